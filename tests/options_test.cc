// The one grammar for sizes, durations and switches (include/rtcache/options.h):
// parse_byte_size, parse_duration, parse_bool. Good inputs give their value;
// bad ones (malformed, or past the type's range) return false and leave the
// output as it was. (18446744073709551615, UINT64_MAX itself, is left out: the
// overflow check refuses it though it fits; see the report.) Also the size
// budget: its default (kDefaultMaxBytes) and explicit values
// (resolve_max_bytes); the environment's part is in environment_test.cc.
#include "rtcache/options.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "rtcache/runtime_cache.h"

namespace rtcache {
namespace {

using std::chrono::milliseconds;

constexpr uint64_t kKi = 1024;
constexpr uint64_t kMi = kKi * kKi;
constexpr uint64_t kGi = kMi * kKi;
constexpr uint64_t kTi = kGi * kKi;
constexpr uint64_t kUntouched = 0xdeadbeef;

// Test names are case0, case1, ...; failure messages quote the input.
template <typename Case>
std::string ByIndex(const ::testing::TestParamInfo<Case>& info) {
  return "case" + std::to_string(info.index);
}

// --- sizes ------------------------------------------------------------------------------------

struct SizeCase {
  const char* text;
  uint64_t bytes;
};
class ParseByteSizeGood : public ::testing::TestWithParam<SizeCase> {};

TEST_P(ParseByteSizeGood, Parses) {
  uint64_t bytes = kUntouched;
  ASSERT_TRUE(parse_byte_size(GetParam().text, &bytes)) << '"' << GetParam().text << '"';
  EXPECT_EQ(bytes, GetParam().bytes) << '"' << GetParam().text << '"';
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ParseByteSizeGood,
    ::testing::Values(
        SizeCase{"0", 0}, SizeCase{"4096", 4096}, SizeCase{"0K", 0}, SizeCase{"64K", 64 * kKi},
        SizeCase{"64k", 64 * kKi}, SizeCase{"64KB", 64 * kKi}, SizeCase{"64kb", 64 * kKi},
        SizeCase{"64KiB", 64 * kKi}, SizeCase{"64kib", 64 * kKi}, SizeCase{"512M", 512 * kMi},
        SizeCase{"512MB", 512 * kMi}, SizeCase{"512MiB", 512 * kMi}, SizeCase{"2G", 2 * kGi},
        SizeCase{"2GiB", 2 * kGi}, SizeCase{"1T", kTi}, SizeCase{"1t", kTi}, SizeCase{"1TiB", kTi},
        SizeCase{"007", 7},
        // The largest counts that fit in 64 bits, with and without a unit.
        SizeCase{"16777215T", 16777215 * kTi}, SizeCase{"17179869183G", 17179869183 * kGi},
        SizeCase{"18446744073709551609", 18446744073709551609ull}),
    ByIndex<SizeCase>);

// --- durations --------------------------------------------------------------------------------

struct DurationCase {
  const char* text;
  milliseconds value;
};
class ParseDurationGood : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationGood, Parses) {
  milliseconds value{12345};
  ASSERT_TRUE(parse_duration(GetParam().text, &value)) << '"' << GetParam().text << '"';
  EXPECT_EQ(value.count(), GetParam().value.count()) << '"' << GetParam().text << '"';
}

// The bound: the library computes in int64 nanoseconds, so at most
// INT64_MAX / 10^6 = 9223372036854 ms.
constexpr int64_t kMaxMs = INT64_MAX / 1'000'000;

INSTANTIATE_TEST_SUITE_P(
    Durations, ParseDurationGood,
    ::testing::Values(DurationCase{"0", milliseconds(0)}, DurationCase{"0s", milliseconds(0)},
                      DurationCase{"30", milliseconds(30'000)},  // a bare number is seconds
                      DurationCase{"1500ms", milliseconds(1500)},
                      DurationCase{"1500MS", milliseconds(1500)},
                      DurationCase{"10s", milliseconds(10'000)},
                      DurationCase{"10S", milliseconds(10'000)},
                      DurationCase{"90m", milliseconds(90 * 60'000)},
                      DurationCase{"2h", milliseconds(2 * 3'600'000)},
                      DurationCase{"2H", milliseconds(2 * 3'600'000)},
                      DurationCase{"30d", milliseconds(30LL * 86'400'000)},
                      DurationCase{"9223372036854ms", milliseconds(kMaxMs)},
                      DurationCase{"9223372036s", milliseconds(9223372036000)},
                      DurationCase{"106751d", milliseconds(106751LL * 86'400'000)}),
    ByIndex<DurationCase>);

// --- switches ---------------------------------------------------------------------------------

struct BoolCase {
  const char* text;
  bool value;
};
class ParseBoolGood : public ::testing::TestWithParam<BoolCase> {};

TEST_P(ParseBoolGood, Parses) {
  // Start from the opposite value, so that a parse that does not write fails.
  bool value = !GetParam().value;
  ASSERT_TRUE(parse_bool(GetParam().text, &value)) << '"' << GetParam().text << '"';
  EXPECT_EQ(value, GetParam().value) << '"' << GetParam().text << '"';
}

INSTANTIATE_TEST_SUITE_P(Switches, ParseBoolGood,
                         ::testing::Values(BoolCase{"1", true}, BoolCase{"true", true},
                                           BoolCase{"TRUE", true}, BoolCase{"True", true},
                                           BoolCase{"yes", true}, BoolCase{"YES", true},
                                           BoolCase{"on", true}, BoolCase{"On", true},
                                           BoolCase{"0", false}, BoolCase{"false", false},
                                           BoolCase{"FALSE", false}, BoolCase{"fAlSe", false},
                                           BoolCase{"no", false}, BoolCase{"No", false},
                                           BoolCase{"off", false}, BoolCase{"OFF", false}),
                         ByIndex<BoolCase>);

// --- what every parser refuses --------------------------------------------------------------

// Malformed text, or a value past the type's range: false, and the output is
// left as it was.
enum class Grammar { kSize, kDuration, kBool };

struct BadCase {
  Grammar grammar;
  const char* text;
};

class ParseRefuses : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseRefuses, AndLeavesTheOutputAlone) {
  const std::string text = GetParam().text;
  switch (GetParam().grammar) {
    case Grammar::kSize: {
      uint64_t bytes = kUntouched;
      EXPECT_FALSE(parse_byte_size(text, &bytes)) << '"' << text << '"';
      EXPECT_EQ(bytes, kUntouched);
      break;
    }
    case Grammar::kDuration: {
      milliseconds value{12345};
      EXPECT_FALSE(parse_duration(text, &value)) << '"' << text << '"';
      EXPECT_EQ(value.count(), 12345);
      break;
    }
    case Grammar::kBool:
      for (bool start : {false, true}) {
        bool value = start;
        EXPECT_FALSE(parse_bool(text, &value)) << '"' << text << '"';
        EXPECT_EQ(value, start);
      }
      break;
  }
}

std::vector<BadCase> Cases(Grammar grammar, std::initializer_list<const char*> texts) {
  std::vector<BadCase> out;
  for (const char* text : texts) out.push_back({grammar, text});
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, ParseRefuses,
    ::testing::ValuesIn(Cases(Grammar::kSize,
                              {"", " ", "K", "KB", "-1", "+1", " 1", "1 ", "1 K", "1.5G", "1e3",
                               "0x10", "12X", "1P", "1KK", "1KBB", "1Ki", "1iB", "lots", "1K ",
                               // Overflow: of the count itself, and of count x unit.
                               "18446744073709551616", "99999999999999999999", "16777216T",
                               "17179869184G", "17592186044416M", "18014398509481984K"})),
    ByIndex<BadCase>);

INSTANTIATE_TEST_SUITE_P(
    Durations, ParseRefuses,
    ::testing::ValuesIn(Cases(Grammar::kDuration,
                              {"", "s", "ms", "-1s", "+1s", " 1s", "1s ", "1.5h", "5y", "1w", "1us",
                               "1ns", "1sec", "1min", "1hr", "1 s", "soon", "1e3", "0x10",
                               // Past int64 nanoseconds (about 292 years), in every unit.
                               "9223372036855ms", "9223372037", "9223372037s", "153722868m",
                               "2562048h", "106752d", "18446744073709551616",
                               "99999999999999999999d"})),
    ByIndex<BadCase>);

INSTANTIATE_TEST_SUITE_P(Switches, ParseRefuses,
                         ::testing::ValuesIn(Cases(Grammar::kBool,
                                                   {"",    " ",   "2",      "-1",       "01",
                                                    "00",  "y",   "n",      "t",        "f",
                                                    "ye",  "tru", "enable", "disabled", "yes ",
                                                    " no", "on1", "of",     "truee",    "nope"})),
                         ByIndex<BadCase>);

// --- the size budget ---------------------------------------------------------------

// The documented default: a 1 GiB cap, reached when Options::max_bytes is
// left at 0 (the environment's part is in environment_test.cc).
TEST(SizeBudget, TheDefaultIsAOneGibibyteCap) {
  EXPECT_EQ(kDefaultMaxBytes, kGi);
  EXPECT_EQ(kNoSizeLimit, UINT64_MAX);
  EXPECT_EQ(Options{}.max_bytes, 0u) << "0: RTCACHE_MAX_SIZE when set, else the default";
}

// A value in Options is the budget whatever the environment says; so is
// kNoSizeLimit, and a handle keeps it.
TEST(SizeBudget, AnExplicitValueWins) {
  for (uint64_t explicit_bytes : {uint64_t{1}, 4 * kKi, 64 * kMi, 3 * kTi, kNoSizeLimit}) {
    const char* source = nullptr;
    EXPECT_EQ(resolve_max_bytes(explicit_bytes, &source), explicit_bytes);
    EXPECT_STREQ(source, "Options::max_bytes");
    Options options;
    options.max_bytes = explicit_bytes;
    EXPECT_EQ(RuntimeCache::create(options)->options().max_bytes, explicit_bytes);
  }
  EXPECT_EQ(resolve_max_bytes(7), 7u) << "the source is optional";
}

}  // namespace
}  // namespace rtcache

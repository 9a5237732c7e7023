// The byte layout (src/storage/format.h, docs/format.md), directly: encoding
// and decoding of the file header, record headers, padding, index values and
// the trailer. What is not an rtcache file is NotACacheFile; a damaged
// rtcache file is Corruption; a newer one is NotSupported.
#include "storage/format.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"

namespace rtcache::format {
namespace {

using testing::load_u32;
using testing::load_u64;
using testing::store_u32;
using testing::store_u64;

// --- file header ----------------------------------------------------------------------------

FileHeader SampleHeader() {
  FileHeader h;
  h.file_id = 0x0123456789abcdefull;
  h.created_ns = 1'700'000'000'123'456'789;
  h.image_length = 4242;
  return h;
}

// The checksum (the last 8 bytes) recomputed after a test changed a field.
void ResealHeader(std::string* header) {
  store_u64(header, 56, XXH3_64bits(header->data(), 56));
}

TEST(FileHeaderFormat, EncodesToTheDocumentedLayoutAndDecodesBack) {
  const std::string bytes = encode_file_header(SampleHeader());
  ASSERT_EQ(bytes.size(), kFileHeaderSize);
  EXPECT_EQ(bytes.substr(0, 8), std::string(kFileMagic, 8));
  EXPECT_EQ(load_u32(bytes, 8), kFormatVersion);
  EXPECT_EQ(load_u32(bytes, 12), kFileHeaderSize);
  EXPECT_EQ(load_u64(bytes, 16), SampleHeader().file_id);
  EXPECT_EQ(load_u64(bytes, 56), XXH3_64bits(bytes.data(), 56));
  EXPECT_EQ(bytes.substr(40, 16), std::string(16, '\0')) << "reserved bytes are zero";

  FileHeader decoded;
  ASSERT_OK(decode_file_header(bytes, &decoded));
  EXPECT_EQ(decoded.version, kFormatVersion);
  EXPECT_EQ(decoded.file_id, SampleHeader().file_id);
  EXPECT_EQ(decoded.created_ns, SampleHeader().created_ns);
  EXPECT_EQ(decoded.image_length, SampleHeader().image_length);
}

// How a header that is not right is classified.
struct HeaderCase {
  const char* name;
  std::string bytes;
  Status::Code code;
  const char* reason;  // in the message
};

std::vector<HeaderCase> HeaderCases() {
  const std::string good = encode_file_header(SampleHeader());
  std::vector<HeaderCase> cases;
  cases.push_back({"Empty", "", Status::Code::kNotACacheFile, "empty"});
  cases.push_back({"ShorterThanTheMagic", "RTC", Status::Code::kNotACacheFile, "magic"});
  cases.push_back({"ForeignMagic",
                   "\x7f"
                   "ELF" +
                       good.substr(4),
                   Status::Code::kNotACacheFile, "magic"});
  std::string almost = good;
  almost[7] = 'X';  // the magic's last byte
  cases.push_back({"MagicOffByOneByte", almost, Status::Code::kNotACacheFile, "magic"});
  cases.push_back(
      {"TruncatedAfterTheMagic", good.substr(0, 40), Status::Code::kCorruption, "truncated"});
  std::string flipped = good;
  flipped[20] ^= 0x01;  // inside file_id: the checksum no longer matches
  cases.push_back({"ChecksumMismatch", flipped, Status::Code::kCorruption, "checksum"});
  FileHeader newer = SampleHeader();
  newer.version = kFormatVersion + 1;
  cases.push_back(
      {"NewerVersion", encode_file_header(newer), Status::Code::kNotSupported, "newer"});
  FileHeader zero = SampleHeader();
  zero.version = 0;
  cases.push_back(
      {"VersionZero", encode_file_header(zero), Status::Code::kCorruption, "invalid version"});
  std::string size = good;
  store_u32(&size, 12, 128);  // header_size other than 64, checksum made to match
  ResealHeader(&size);
  cases.push_back({"WrongHeaderSize", size, Status::Code::kCorruption, "invalid version or size"});
  return cases;
}

class FileHeaderRejects : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(FileHeaderRejects, WithTheRightCode) {
  FileHeader header;
  Status s = decode_file_header(GetParam().bytes, &header);
  EXPECT_EQ(s.code(), GetParam().code) << s.to_string();
  EXPECT_NE(s.message().find(GetParam().reason), std::string::npos) << s.to_string();
}

INSTANTIATE_TEST_SUITE_P(Headers, FileHeaderRejects, ::testing::ValuesIn(HeaderCases()),
                         [](const ::testing::TestParamInfo<HeaderCase>& info) {
                           return std::string(info.param.name);
                         });

// --- records ----------------------------------------------------------------------------------

TEST(RecordFormat, PutRecordEncodesAndDecodesBack) {
  std::string out = "prefix";  // appends after what is there
  const std::string key = "k:42", meta = "sm_90 nvrtc", value = "the stored value";
  append_record(&out, RecordType::kPut, 0, key, meta, value, value.size(), 777);
  const std::string record = out.substr(6);
  ASSERT_EQ(record.size(), kRecordHeaderSize + key.size() + meta.size() + value.size());
  EXPECT_EQ(load_u32(record, 0), kRecordMagic);

  RecordHeader h;
  ASSERT_OK(decode_record_header(record, &h));
  EXPECT_EQ(h.type, RecordType::kPut);
  EXPECT_EQ(h.encoding, 0);
  EXPECT_EQ(h.key_len, key.size());
  EXPECT_EQ(h.meta_len, meta.size());
  EXPECT_EQ(h.value_len, value.size());
  EXPECT_EQ(h.raw_len, value.size());
  EXPECT_EQ(h.timestamp_ns, 777);
  EXPECT_EQ(h.value_hash, hash_bytes(value));
  EXPECT_EQ(h.record_length(), record.size());
  EXPECT_EQ(record.substr(kRecordHeaderSize, key.size()), key);
  EXPECT_EQ(record.substr(kRecordHeaderSize + key.size(), meta.size()), meta);
  EXPECT_EQ(record.substr(kRecordHeaderSize + key.size() + meta.size()), value);

  const std::string_view head(record.data(), kRecordHeaderSize);
  const std::string_view key_and_meta(record.data() + kRecordHeaderSize, key.size() + meta.size());
  EXPECT_TRUE(head_hash_matches(head, key_and_meta));
  std::string other_key = record.substr(kRecordHeaderSize, key.size() + meta.size());
  other_key[0] ^= 0x01;
  EXPECT_FALSE(head_hash_matches(head, other_key)) << "the header checksum covers the key";
}

TEST(RecordFormat, HeadThenValueEqualsAWholeRecord) {
  std::string whole, head;
  append_record(&whole, RecordType::kPut, 1, "key", "m", "zstd-bytes", 100, 5);
  append_record_head(&head, RecordType::kPut, 1, "key", "m", "zstd-bytes", 100, 5);
  EXPECT_EQ(head + "zstd-bytes", whole);
  RecordHeader h;
  ASSERT_OK(decode_record_header(whole, &h));
  EXPECT_EQ(h.encoding, 1);
  EXPECT_EQ(h.raw_len, 100u) << "an encoded value declares its decoded length";
}

TEST(RecordFormat, EraseRecordCarriesOnlyTheKey) {
  std::string out;
  append_record(&out, RecordType::kErase, 0, "gone", {}, {}, 0, 9);
  RecordHeader h;
  ASSERT_OK(decode_record_header(out, &h));
  EXPECT_EQ(h.type, RecordType::kErase);
  EXPECT_EQ(h.value_len, 0u);
  EXPECT_EQ(out.size(), kRecordHeaderSize + 4);
}

TEST(RecordFormat, PaddingHasExactlyTheAskedLength) {
  for (uint64_t length : {kRecordHeaderSize, kRecordHeaderSize + 1, uint64_t{4000}}) {
    std::string out;
    append_pad(&out, length);
    EXPECT_EQ(out.size(), length);
    RecordHeader h;
    ASSERT_OK(decode_record_header(out, &h));
    EXPECT_EQ(h.type, RecordType::kPad);
    EXPECT_EQ(h.record_length(), length);
  }
}

TEST(RecordFormat, IndexesStartOnAlignedOffsetsAfterRoomForPadding) {
  EXPECT_EQ(pad_before_index(0), 0u);
  EXPECT_EQ(pad_before_index(kIndexAlignment), 0u);
  EXPECT_EQ(pad_before_index(4000), 96u);
  EXPECT_EQ(pad_before_index(kIndexAlignment - kRecordHeaderSize), kRecordHeaderSize);
  // A gap too small for a padding record's header skips to the next boundary.
  EXPECT_EQ(pad_before_index(kIndexAlignment - 1), kIndexAlignment + 1);
  for (uint64_t offset = 1; offset < 3 * kIndexAlignment; offset += 61) {
    const uint64_t pad = pad_before_index(offset);
    EXPECT_EQ((offset + pad) % kIndexAlignment, 0u) << offset;
    EXPECT_TRUE(pad == 0 || pad >= kRecordHeaderSize) << offset;
  }
}

// One field of a valid record header changed (the header checksum is not
// consulted by decode_record_header, which checks structure and bounds).
struct RecordCase {
  const char* name;
  size_t at;
  int width;  // 1, 2, 4 or 8 bytes
  uint64_t value;
  const char* reason;
};

class RecordHeaderRejects : public ::testing::TestWithParam<RecordCase> {};

TEST_P(RecordHeaderRejects, AsCorruption) {
  std::string record;
  append_record(&record, RecordType::kPut, 0, "key", "meta", "value", 5, 1);
  const RecordCase& c = GetParam();
  std::memcpy(record.data() + c.at, &c.value, c.width);
  RecordHeader h;
  Status s = decode_record_header(record, &h);
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
  EXPECT_NE(s.message().find(c.reason), std::string::npos) << s.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, RecordHeaderRejects,
    ::testing::Values(RecordCase{"BadMagic", 0, 4, 0x32524352, "magic"},
                      RecordCase{"TypeZero", 4, 1, 0, "type"},
                      RecordCase{"TypeFive", 4, 1, 5, "type"},
                      RecordCase{"UnknownEncoding", 5, 1, 2, "encoding"},
                      RecordCase{"ReservedBits", 6, 2, 1, "reserved"},
                      RecordCase{"KeyTooLong", 8, 4, kMaxKeyBytes + 1, "out of range"},
                      RecordCase{"MetaTooLong", 12, 4, kMaxMetaBytes + 1, "out of range"},
                      RecordCase{"ValueTooLong", 16, 8, (1ull << 48) + 1, "out of range"},
                      RecordCase{"RawLengthDiffersForARawValue", 24, 8, 6, "raw record length"}),
    [](const ::testing::TestParamInfo<RecordCase>& info) { return std::string(info.param.name); });

TEST(RecordFormat, TruncatedHeaderIsCorruption) {
  std::string record;
  append_record(&record, RecordType::kPut, 0, "key", "", "v", 1, 1);
  RecordHeader h;
  Status s = decode_record_header(std::string_view(record).substr(0, kRecordHeaderSize - 1), &h);
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
}

// --- indexes and the trailer ------------------------------------------------------------------

std::vector<Slot> SampleSlots() {
  return {{hash_key("a"), 64, 100, 11}, {hash_key("b"), 164, 200, 22}, {hash_key("c"), 0, 0, 33}};
}

TEST(IndexFormat, FullIndexEncodesAndDecodesBack) {
  IndexInfo info;
  info.kind = IndexKind::kFull;
  info.generation = 7;
  info.saved_ns = 123456789;
  const uint64_t at = 8192;
  const std::string value = encode_index_value(info, SampleSlots(), at);
  EXPECT_EQ(value.size(), kIndexFixedSize + 3 * kSlotSize + kTrailerSize);
  EXPECT_EQ(index_record_length(3), kRecordHeaderSize + value.size());

  IndexInfo got;
  std::vector<Slot> slots;
  ASSERT_OK(decode_index_value(value, at, &got, &slots));
  EXPECT_EQ(got.kind, IndexKind::kFull);
  EXPECT_EQ(got.generation, 7u);
  EXPECT_EQ(got.saved_ns, 123456789);
  ASSERT_EQ(slots.size(), 3u);
  for (size_t i = 0; i < slots.size(); ++i) {
    EXPECT_EQ(slots[i].key_hash, SampleSlots()[i].key_hash);
    EXPECT_EQ(slots[i].offset, SampleSlots()[i].offset);
    EXPECT_EQ(slots[i].length, SampleSlots()[i].length);
    EXPECT_EQ(slots[i].last_used_ns, SampleSlots()[i].last_used_ns);
  }

  // The value ends with the trailer, which points back at its record.
  Trailer trailer;
  ASSERT_TRUE(
      decode_trailer(std::string_view(value).substr(value.size() - kTrailerSize), &trailer));
  EXPECT_EQ(trailer.index_offset, at);
  EXPECT_EQ(trailer.index_length, index_record_length(3));
}

TEST(IndexFormat, DeltaIndexKeepsItsChain) {
  IndexInfo info;
  info.kind = IndexKind::kDelta;
  info.depth = 3;
  info.prev_index_offset = 4096;
  info.cum_delta_slots = 9;
  const std::string value = encode_index_value(info, {}, 3 * 4096);
  IndexInfo got;
  std::vector<Slot> slots;
  ASSERT_OK(decode_index_value(value, 3 * 4096, &got, &slots));
  EXPECT_EQ(got.kind, IndexKind::kDelta);
  EXPECT_EQ(got.depth, 3u);
  EXPECT_EQ(got.prev_index_offset, 4096u);
  EXPECT_EQ(got.cum_delta_slots, 9u);
  EXPECT_TRUE(slots.empty());
}

TEST(IndexFormat, DamagedIndexValuesAreCorruption) {
  IndexInfo full;
  const std::string good = encode_index_value(full, SampleSlots(), 4096);
  IndexInfo info;
  std::vector<Slot> slots;
  auto expect_corrupt = [&](std::string_view value, uint64_t at, const char* reason) {
    Status s = decode_index_value(value, at, &info, &slots);
    EXPECT_TRUE(s.is_corruption()) << reason << ": " << s.to_string();
    EXPECT_NE(s.message().find(reason), std::string::npos) << s.to_string();
  };
  expect_corrupt(std::string_view(good).substr(0, kIndexFixedSize + kTrailerSize - 1), 4096,
                 "too short");
  std::string kind = good;
  store_u32(&kind, 0, 3);
  expect_corrupt(kind, 4096, "unknown index kind");
  std::string count = good;
  store_u64(&count, 16, 4);  // says 4 slots, holds 3
  expect_corrupt(count, 4096, "slot count");
  expect_corrupt(good, 8192, "trailer does not match") /* read at another offset */;
  IndexInfo forward;
  forward.kind = IndexKind::kDelta;
  forward.prev_index_offset = 8192;  // after itself
  expect_corrupt(encode_index_value(forward, {}, 4096), 4096, "points forward");
}

TEST(TrailerFormat, RejectsWrongSizeMagicOrChecksum) {
  const std::string value = encode_index_value(IndexInfo{}, {}, 4096);
  const std::string trailer = value.substr(value.size() - kTrailerSize);
  Trailer t;
  EXPECT_TRUE(decode_trailer(trailer, &t));
  EXPECT_FALSE(decode_trailer(trailer.substr(1), &t));
  EXPECT_FALSE(decode_trailer(trailer + "x", &t));
  std::string magic = trailer;
  magic[0] ^= 0x01;
  EXPECT_FALSE(decode_trailer(magic, &t));
  std::string offset = trailer;
  offset[8] ^= 0x01;  // covered by the checksum
  EXPECT_FALSE(decode_trailer(offset, &t));
}

TEST(HashFormat, KeysHashStablyAndDistinctly) {
  EXPECT_EQ(hash_key("scale<float>"), hash_key(std::string("scale<float>")));
  EXPECT_NE(hash_key("scale<float>"), hash_key("scale<double>"));
  EXPECT_EQ(hash_key("abc"), XXH3_64bits("abc", 3)) << "keys hash with XXH3-64 (docs/format.md)";
  EXPECT_EQ(hash_bytes(""), XXH3_64bits("", 0));
}

}  // namespace
}  // namespace rtcache::format

// rtcache::Status: codes, names, messages, context; and the kit's EXPECT_OK.
#include "rtcache/status.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "test_util.h"

namespace rtcache {
namespace {

TEST(StatusTest, OkHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "OK");
}

TEST(StatusTest, ContextIsPrefixedAndCodeKept) {
  Status s = Status::Corruption("bad magic").with_context("/tmp/k.rtc");
  EXPECT_TRUE(s.is_corruption());
  EXPECT_EQ(s.message(), "/tmp/k.rtc: bad magic");
  EXPECT_TRUE(Status::OK().with_context("x").ok());
}

// Each code: its factory, its predicate (only its own), its name in to_string().
using Predicate = bool (Status::*)() const;

struct CodeCase {
  Status status;
  Status::Code code;
  Predicate is;  // its predicate; null when it has none
  const char* to_string;
};

class StatusCodeTest : public ::testing::TestWithParam<CodeCase> {};

TEST_P(StatusCodeTest, FactoryPredicateAndName) {
  const CodeCase& c = GetParam();
  EXPECT_FALSE(c.status.ok());
  EXPECT_EQ(c.status.code(), c.code);
  EXPECT_EQ(c.status.to_string(), c.to_string);
  const std::pair<Status::Code, Predicate> predicates[] = {
      {Status::Code::kNotFound, &Status::is_not_found},
      {Status::Code::kCorruption, &Status::is_corruption},
      {Status::Code::kIOError, &Status::is_io_error},
      {Status::Code::kLockTimeout, &Status::is_lock_timeout},
      {Status::Code::kPermissionDenied, &Status::is_permission_denied},
      {Status::Code::kNotACacheFile, &Status::is_not_a_cache_file},
      {Status::Code::kCompileError, &Status::is_compile_error},
  };
  for (const auto& [code, is] : predicates) {
    EXPECT_EQ((c.status.*is)(), code == c.code) << code_name(code);
  }
  if (c.is) {
    EXPECT_TRUE((c.status.*c.is)());
  }
  EXPECT_EQ(c.status.with_context("ctx").code(), c.code) << "the code survives with_context";
}

INSTANTIATE_TEST_SUITE_P(
    Codes, StatusCodeTest,
    ::testing::Values(CodeCase{Status::NotFound("k"), Status::Code::kNotFound,
                               &Status::is_not_found, "Not found: k"},
                      CodeCase{Status::Corruption("bad"), Status::Code::kCorruption,
                               &Status::is_corruption, "Corruption: bad"},
                      CodeCase{Status::NotSupported("v9"), Status::Code::kNotSupported, nullptr,
                               "Not supported: v9"},
                      CodeCase{Status::InvalidArgument("x"), Status::Code::kInvalidArgument,
                               nullptr, "Invalid argument: x"},
                      CodeCase{Status::IOError("/tmp/x: No space left on device"),
                               Status::Code::kIOError, &Status::is_io_error,
                               "IO error: /tmp/x: No space left on device"},
                      CodeCase{Status::LockTimeout("l"), Status::Code::kLockTimeout,
                               &Status::is_lock_timeout, "Lock timeout: l"},
                      CodeCase{Status::PermissionDenied("p"), Status::Code::kPermissionDenied,
                               &Status::is_permission_denied, "Permission denied: p"},
                      CodeCase{Status::NotACacheFile("/x: not an rtcache file"),
                               Status::Code::kNotACacheFile, &Status::is_not_a_cache_file,
                               "Not a cache file: /x: not an rtcache file"},
                      CodeCase{Status::CompileError("m: error"), Status::Code::kCompileError,
                               &Status::is_compile_error, "Compile error: m: error"}),
    [](const ::testing::TestParamInfo<CodeCase>& info) {
      std::string name(code_name(info.param.code));
      std::erase(name, ' ');
      return name;
    });

TEST(StatusTest, ExpectOkPrintsTheStatus) {
  EXPECT_OK(Status::OK());
  EXPECT_NONFATAL_FAILURE(EXPECT_OK(Status::IOError("/tmp/x: disk on fire")),
                          "IO error: /tmp/x: disk on fire");
  EXPECT_FATAL_FAILURE(ASSERT_OK(Status::NotACacheFile("/tmp/y: empty")),
                       "Not a cache file: /tmp/y: empty");
}

}  // namespace
}  // namespace rtcache

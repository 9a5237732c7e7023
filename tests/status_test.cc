#include "rtcache/status.h"

#include <gtest/gtest.h>

namespace rtcache {
namespace {

TEST(StatusTest, OkHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "OK");
}

TEST(StatusTest, ErrorNamesCodeAndReason) {
  Status s = Status::IOError("/tmp/x: No space left on device");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.is_io_error());
  EXPECT_EQ(s.to_string(), "IO error: /tmp/x: No space left on device");
}

TEST(StatusTest, ContextIsPrefixedAndCodeKept) {
  Status s = Status::Corruption("bad magic").with_context("/tmp/k.rtc");
  EXPECT_TRUE(s.is_corruption());
  EXPECT_EQ(s.message(), "/tmp/k.rtc: bad magic");
  EXPECT_TRUE(Status::OK().with_context("x").ok());
}

}  // namespace
}  // namespace rtcache

#include "common/flags.h"

#include "gtest/gtest.h"

namespace deadline {
namespace {

int64_t Parsed(absl::string_view text) {
  ByteSize size;
  std::string error;
  return AbslParseFlag(text, &size, &error) ? size.bytes : -1;
}

TEST(ByteSizeTest, ReadsBinarySuffixes) {
  EXPECT_EQ(Parsed("0"), 0);
  EXPECT_EQ(Parsed("4096"), 4096);
  EXPECT_EQ(Parsed("64K"), 64 * 1024);
  EXPECT_EQ(Parsed("512M"), int64_t{512} << 20);
  EXPECT_EQ(Parsed("2G"), int64_t{2} << 30);
}

TEST(ByteSizeTest, RefusesNonsense) {
  for (absl::string_view bad : {"", "M", "-1", "1.5G", "12Q", "1 G",
                                "99999999999G", "0x10"}) {
    ByteSize size;
    std::string error;
    EXPECT_FALSE(AbslParseFlag(bad, &size, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(ByteSizeTest, WritesTheShortestForm) {
  EXPECT_EQ(AbslUnparseFlag(ByteSize{0}), "0");
  EXPECT_EQ(AbslUnparseFlag(ByteSize{int64_t{512} << 20}), "512M");
  EXPECT_EQ(AbslUnparseFlag(ByteSize{1536}), "1536");
  EXPECT_EQ(AbslUnparseFlag(ByteSize{2048}), "2K");
}

}  // namespace
}  // namespace deadline

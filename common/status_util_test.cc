#include "common/status_util.h"

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(StatusUtilTest, EveryCodeAndMessageSurvivesTheRoundTrip) {
  for (int code = 0; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "why");
    const grpc::Status grpc_status = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(grpc_status.error_code()), code);
    EXPECT_EQ(grpc_status.error_message(), status.ok() ? "" : "why");
    EXPECT_EQ(FromGrpcStatus(grpc_status), status);
  }
}

TEST(StatusUtilTest, DeadlineAndCancelledKeepTheirNames) {
  EXPECT_EQ(ToGrpcStatus(absl::DeadlineExceededError("x")).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(ToGrpcStatus(absl::CancelledError("x")).error_code(),
            grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace deadline

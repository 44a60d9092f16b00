#include "server/frontend/frontend_call.h"

#include "gtest/gtest.h"

namespace deadline {
namespace {

using absl::Microseconds;
using absl::Milliseconds;

const absl::Time kDeadline = absl::FromUnixSeconds(1'000'000);

// gRPC cancels a call when its deadline passes, and its timer and this
// process's clock may disagree by a fraction of a millisecond: a caller
// seen gone that close to its deadline left because of it.
TEST(GoneCallerCodeTest, WithinAMillisecondOfTheDeadlineIsTheDeadlines) {
  EXPECT_EQ(GoneCallerCode(kDeadline - Microseconds(500), kDeadline),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(GoneCallerCode(kDeadline + Milliseconds(5), kDeadline),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(GoneCallerCode(kDeadline - Milliseconds(2), kDeadline),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(GoneCallerCode(kDeadline, absl::InfiniteFuture()),
            absl::StatusCode::kCancelled);
}

TEST(WhyCallerWentTest, OnceTheShutdownCancelsItIsTheServers) {
  const absl::Time shutdown = kDeadline;
  EXPECT_EQ(WhyCallerWent(shutdown - Milliseconds(1), shutdown),
            "the caller went away");
  EXPECT_EQ(WhyCallerWent(shutdown, shutdown), "the server shut down");
  EXPECT_EQ(WhyCallerWent(kDeadline, absl::InfiniteFuture()),
            "the caller went away");
}

}  // namespace
}  // namespace deadline

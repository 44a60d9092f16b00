#include "server/observability/metrics_endpoint.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/observability/metrics.h"
#include "tests/support/http_get.h"
#include "tests/support/prometheus_text.h"

namespace deadline {
namespace {

using ::deadline::testing::HttpGet;
using ::deadline::testing::HttpResponse;
using ::deadline::testing::ParsePrometheusText;
using ::deadline::testing::Sample;
using ::deadline::testing::ValueOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

TEST(ValidateMetricsListenTest, TakesHostAndPort) {
  EXPECT_TRUE(ValidateMetricsListen("127.0.0.1:0").ok());
  EXPECT_TRUE(ValidateMetricsListen("0.0.0.0:9100").ok());
  EXPECT_TRUE(ValidateMetricsListen("localhost:65535").ok());
  for (const char* bad :
       {"", "9100", ":9100", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536",
        "[::1]:9100", "::1:9100", "host:-1", "http://h:1"}) {
    const absl::Status status = ValidateMetricsListen(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("--metrics_listen")) << bad;
  }
}

TEST(MetricsEndpointTest, ServesTheMetricsOverHttp) {
  ServerMetrics metrics("backend", {"Work"});
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start("127.0.0.1:0", metrics.collectable());
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  const std::string address = (*endpoint)->address();
  EXPECT_THAT(address, ::testing::StartsWith("127.0.0.1:"));
  EXPECT_NE(address, "127.0.0.1:0");

  const absl::StatusOr<HttpResponse> response = HttpGet(address, "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  const absl::StatusOr<std::vector<Sample>> samples =
      ParsePrometheusText(response->body);
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_THAT(ValueOf(*samples, "deadline_calls_total",
                      {{"hop", "backend"}, {"method", "Work"}, {"code", "OK"}}),
              Optional(0.0));
}

// civetweb sees that it should stop only between 2-second rounds of
// waiting for connections; the endpoint cuts the round short.
TEST(MetricsEndpointTest, StopsPromptlyAfterServing) {
  ServerMetrics metrics("backend", {"Work"});
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start("127.0.0.1:0", metrics.collectable());
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  ASSERT_TRUE(HttpGet((*endpoint)->address(), "/metrics").ok());
  const absl::Time start = absl::Now();
  endpoint->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(MetricsEndpointTest, APortInUseIsUnavailable) {
  ServerMetrics metrics("backend", {"Work"});
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> first =
      MetricsEndpoint::Start("127.0.0.1:0", metrics.collectable());
  ASSERT_TRUE(first.ok()) << first.status();
  const absl::StatusOr<std::unique_ptr<MetricsEndpoint>> second =
      MetricsEndpoint::Start((*first)->address(), metrics.collectable());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr((*first)->address()));
}

TEST(MetricsEndpointTest, AMalformedAddressIsInvalid) {
  ServerMetrics metrics("backend", {"Work"});
  EXPECT_EQ(
      MetricsEndpoint::Start("[::1]:0", metrics.collectable()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(MetricsEndpointTest, StopsCollectingWhenTheMetricsAreGone) {
  auto metrics = std::make_unique<ServerMetrics>(
      "backend", std::vector<std::string>{"Work"});
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start("127.0.0.1:0", metrics->collectable());
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  metrics.reset();
  const absl::StatusOr<HttpResponse> response =
      HttpGet((*endpoint)->address(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->body, Not(HasSubstr("deadline_")));
}

}  // namespace
}  // namespace deadline

#include "server/frontend/backend_channels.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseBackendsTest, ReadsBackendsReplicaSetsAndTargets) {
  const absl::StatusOr<std::vector<BackendTarget>> targets =
      ParseBackends({"127.0.0.1:7001", "127.0.0.1:7002+127.0.0.1:7003",
                     "dns:///backend.example:7000", "localhost:9"});
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 4);
  EXPECT_EQ((*targets)[0].grpc_target, "127.0.0.1:7001");
  EXPECT_FALSE((*targets)[0].replica_set);
  EXPECT_EQ((*targets)[1].name, "127.0.0.1:7002+127.0.0.1:7003");
  EXPECT_EQ((*targets)[1].grpc_target, "ipv4:127.0.0.1:7002,127.0.0.1:7003");
  EXPECT_TRUE((*targets)[1].replica_set);
  EXPECT_EQ((*targets)[2].grpc_target, "dns:///backend.example:7000");
  EXPECT_TRUE((*targets)[2].replica_set);
  EXPECT_EQ((*targets)[3].grpc_target, "localhost:9");
}

TEST(ParseBackendsTest, RefusesWhatIsNotAnAddressNamingIt) {
  for (const char* bad :
       {"", "nocolon", "host:", "host:0", "host:70000", "a b:1", "127.0.0.1:1+",
        "127.0.0.1:1+x", "host:12ab"}) {
    const absl::StatusOr<std::vector<BackendTarget>> targets =
        ParseBackends({bad});
    ASSERT_FALSE(targets.ok()) << bad;
    EXPECT_EQ(targets.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(targets.status().message(), HasSubstr("--backend"));
  }
  EXPECT_FALSE(ParseBackends({}).ok());
}

TEST(BackendServiceConfigTest, ReplicaSetsAreBalancedOverHealthyReplicas) {
  BackendChannelOptions options;
  const BackendTarget one{"a:1", "a:1", false};
  const BackendTarget set{"a:1+b:2", "ipv4:a:1,b:2", true};
  EXPECT_THAT(BackendServiceConfig(one, options),
              Not(HasSubstr("round_robin")));
  const std::string config = BackendServiceConfig(set, options);
  EXPECT_THAT(config, HasSubstr(R"("round_robin")"));
  EXPECT_THAT(config, HasSubstr(R"("healthCheckConfig": {"serviceName": ""})"));
}

TEST(BackendServiceConfigTest, RetriesOnlyUnavailableAndAreThrottled) {
  BackendChannelOptions options;
  const BackendTarget one{"a:1", "a:1", false};
  EXPECT_THAT(BackendServiceConfig(one, options), Not(HasSubstr("retry")));
  options.max_attempts = 4;
  const std::string config = BackendServiceConfig(one, options);
  EXPECT_THAT(config, HasSubstr(R"("maxAttempts": 4)"));
  EXPECT_THAT(config, HasSubstr(R"("retryableStatusCodes": ["UNAVAILABLE"])"));
  EXPECT_THAT(config, HasSubstr(R"("initialBackoff": "0.010s")"));
  EXPECT_THAT(config, HasSubstr(R"("maxTokens": 100, "tokenRatio": 1.5)"));
}

TEST(BackendChannelOptionsTest, AttemptsAreOneToFive) {
  BackendChannelOptions options;
  EXPECT_TRUE(ValidateBackendChannelOptions(options).ok());
  options.max_attempts = 6;
  EXPECT_THAT(ValidateBackendChannelOptions(options).message(),
              HasSubstr("--retries"));
  options.max_attempts = 0;
  EXPECT_FALSE(ValidateBackendChannelOptions(options).ok());
}

}  // namespace
}  // namespace deadline

#include "tests/test_servers.h"

#include <cstdlib>

#include "absl/time/clock.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace deadline::testing {
namespace {

constexpr char kAnyPort[] = "127.0.0.1:0";

RunningServer MustStart(const std::vector<grpc::Service*>& services) {
  absl::StatusOr<RunningServer> running = StartServer(kAnyPort, services);
  if (!running.ok()) {
    std::fprintf(stderr, "cannot start a test server: %s\n",
                 running.status().ToString().c_str());
    std::abort();
  }
  return *std::move(running);
}

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

}  // namespace

TestBackend::TestBackend(const BackendOptions& options)
    : service_(options),
      stats_service_(service_.stats()),
      running_(MustStart({&service_, &stats_service_})),
      channel_(ChannelTo(running_.address)),
      stub_(deadline::v1::Backend::NewStub(channel_)) {}

void TestBackend::Stop(absl::Duration grace, absl::Duration drain) {
  if (stopped_) return;
  stopped_ = true;
  StopServer(*running_.server, drain, grace);
}

TestFrontend::TestFrontend(const std::vector<std::string>& backends,
                           const FrontendOptions& options)
    : service_(backends, options),
      stats_service_(service_.stats()),
      running_(MustStart({&service_, &stats_service_})),
      channel_(ChannelTo(running_.address)),
      stub_(deadline::v1::Frontend::NewStub(channel_)) {}

void TestFrontend::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  service_.BeginShutdown();
  StopServer(*running_.server, absl::ZeroDuration(), grace);
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= end) return condition();
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

deadline::v1::WorkRequest Work(int steps, absl::Duration step) {
  deadline::v1::WorkRequest work;
  work.set_steps(steps);
  ToProtoDuration(step, work.mutable_step_duration());
  return work;
}

absl::Duration ToDuration(const google::protobuf::Duration& proto) {
  absl::StatusOr<absl::Duration> d = FromProtoDuration(proto, "test");
  return d.ok() ? *d : absl::InfiniteDuration();
}

}  // namespace deadline::testing

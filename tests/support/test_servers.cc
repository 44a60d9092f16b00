#include "tests/support/test_servers.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/backend/backend_service.h"
#include "server/backend/sync_backend_service.h"

namespace deadline::testing {
namespace {

RunningServer MustStart(const std::vector<grpc::Service*>& services,
                        const ServingOptions& serving = {}) {
  absl::StatusOr<RunningServer> running = StartServer(serving, services);
  if (!running.ok()) {
    std::fprintf(stderr, "cannot start a test server: %s\n",
                 running.status().ToString().c_str());
    std::abort();
  }
  return *std::move(running);
}

// The value after `key` in /proc/PID/status, e.g. "12345 kB".
std::string ProcStatus(pid_t pid, absl::string_view key) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, key)) {
      return std::string(absl::StripAsciiWhitespace(rest));
    }
  }
  return "";
}

}  // namespace

std::string ApiName(BackendApi api) {
  return api == BackendApi::kCallback ? "Callback" : "Sync";
}

TestBackend::TestBackend(BackendOptions options, BackendApi api,
                         const ServingOptions& serving) {
  options.on_call_end = [this](const deadline::v1::BudgetTrace& trace) {
    absl::MutexLock lock(&mu_);
    ended_.push_back(trace);
  };
  if (api == BackendApi::kCallback) {
    auto service = std::make_unique<BackendService>(options);
    BackendService* raw = service.get();
    stats_ = [raw] { return raw->stats(); };
    begin_shutdown_ = [raw](absl::Time at) { raw->BeginShutdown(at); };
    service_ = std::move(service);
  } else {
    auto service = std::make_unique<SyncBackendService>(options);
    SyncBackendService* raw = service.get();
    stats_ = [raw] { return raw->stats(); };
    begin_shutdown_ = [raw](absl::Time at) { raw->BeginShutdown(at); };
    service_ = std::move(service);
  }
  stats_service_ = std::make_unique<StatsService>(stats_);
  running_ = MustStart({service_.get(), stats_service_.get()}, serving);
  channel_ = ChannelTo(running_.address);
  stub_ = deadline::v1::Backend::NewStub(channel_);
}

bool TestBackend::WaitForEnded(int calls, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(ended_.size()) >= calls;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<deadline::v1::HopTrace> TestBackend::ended() const {
  absl::MutexLock lock(&mu_);
  std::vector<deadline::v1::HopTrace> hops;
  for (const deadline::v1::BudgetTrace& trace : ended_) {
    hops.push_back(trace.hops(0));
  }
  return hops;
}

absl::optional<deadline::v1::HopTrace> TestBackend::WaitForCall(
    const std::string& request_id, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const deadline::v1::HopTrace* found = nullptr;
  const auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const deadline::v1::BudgetTrace& trace : ended_) {
      if (trace.request_id() == request_id) found = &trace.hops(0);
    }
    return found != nullptr;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended), timeout)) {
    return absl::nullopt;
  }
  return *found;
}

void TestBackend::Stop(absl::Duration grace, absl::Duration drain) {
  if (stopped_) return;
  stopped_ = true;
  StopServer(*running_.server, drain, grace,
             [&] { begin_shutdown_(absl::Now() + grace); });
}

namespace {

std::vector<BackendTarget> MustParse(const std::vector<std::string>& backends) {
  absl::StatusOr<std::vector<BackendTarget>> targets = ParseBackends(backends);
  if (!targets.ok()) {
    std::fprintf(stderr, "bad test backends: %s\n",
                 std::string(targets.status().message()).c_str());
    std::abort();
  }
  return *std::move(targets);
}

}  // namespace

TestFrontend::TestFrontend(const std::vector<std::string>& backends,
                           const FrontendOptions& options)
    : service_(MustParse(backends), options),
      stats_service_(service_.stats()),
      running_(MustStart({&service_, &stats_service_})),
      channel_(ChannelTo(running_.address)),
      stub_(deadline::v1::Frontend::NewStub(channel_)) {}

void TestFrontend::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  service_.BeginShutdown(absl::Now() + grace);
  StopServer(*running_.server, absl::ZeroDuration(), grace);
}

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

deadline::v1::StatsReply FetchStats(grpc::Channel& channel) {
  auto stub = deadline::v1::Stats::NewStub(
      std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  deadline::v1::StatsReply reply;
  const grpc::Status status = stub->GetStats(&context, {}, &reply);
  EXPECT_TRUE(status.ok()) << "Stats: " << status.error_message();
  return reply;
}

deadline::v1::StatsReply FetchStats(const std::string& address) {
  return FetchStats(*ChannelTo(address));
}

int ThreadsOf(pid_t pid) {
  int threads = -1;
  return absl::SimpleAtoi(ProcStatus(pid, "Threads:"), &threads) ? threads : -1;
}

double RssMegabytesOf(pid_t pid) {
  int64_t kb = 0;
  if (!absl::SimpleAtoi(absl::StripSuffix(ProcStatus(pid, "VmRSS:"), " kB"),
                        &kb)) {
    return -1;
  }
  return kb / 1024.0;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= end) return condition();
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

deadline::v1::WorkRequest Work(int steps, absl::Duration step, bool spin) {
  deadline::v1::WorkRequest work;
  work.set_steps(steps);
  ToProtoDuration(step, work.mutable_step_duration());
  if (spin) work.set_kind(deadline::v1::WORK_KIND_SPIN);
  return work;
}

absl::Duration ToDuration(const google::protobuf::Duration& proto) {
  absl::StatusOr<absl::Duration> d = FromProtoDuration(proto, "test");
  return d.ok() ? *d : absl::InfiniteDuration();
}

}  // namespace deadline::testing

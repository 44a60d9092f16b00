#include "bench/harness.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace deadline::bench {
namespace {

RunningServer MustStart(const std::vector<grpc::Service*>& services) {
  absl::StatusOr<RunningServer> running = StartServer("127.0.0.1:0", services);
  if (!running.ok()) {
    std::fprintf(stderr, "bench: %s\n", running.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(running);
}

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

}  // namespace

Servers::Servers(BackendOptions backend_options,
                 const FrontendOptions& options) {
  backend_options.on_call_end = [this](const deadline::v1::BudgetTrace& trace) {
    absl::MutexLock lock(&mu_);
    ended_[trace.request_id()] = trace.hops(0);
  };
  backend_service_ = std::make_unique<BackendService>(backend_options);
  backend_stats_ = std::make_unique<StatsService>(backend_service_->stats());
  backend_ = MustStart({backend_service_.get(), backend_stats_.get()});
  frontend_service_ = std::make_unique<FrontendService>(
      std::vector<std::string>{backend_.address}, options);
  frontend_stats_ = std::make_unique<StatsService>(frontend_service_->stats());
  frontend_ = MustStart({frontend_service_.get(), frontend_stats_.get()});
  bare_service_ = std::make_unique<StatsService>(bare_counters_);
  bare_ = MustStart({bare_service_.get()});
  frontend_stub_ =
      deadline::v1::Frontend::NewStub(ChannelTo(frontend_.address));
  backend_stub_ = deadline::v1::Backend::NewStub(ChannelTo(backend_.address));
  bare_stub_ = deadline::v1::Stats::NewStub(ChannelTo(bare_.address));
}

Servers::~Servers() {
  frontend_service_->BeginShutdown();
  for (RunningServer* server : {&frontend_, &backend_, &bare_}) {
    StopServer(*server->server, absl::ZeroDuration(), absl::ZeroDuration());
  }
}

absl::optional<deadline::v1::HopTrace> Servers::BackendHop(
    const std::string& request_id, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ended_.count(request_id) > 0;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended), timeout)) {
    return absl::nullopt;
  }
  auto node = ended_.extract(request_id);
  return node.mapped();
}

WorkCall::WorkCall(deadline::v1::Backend::Stub& stub,
                   const deadline::v1::WorkRequest& request,
                   absl::Time deadline)
    : UnaryCall(request, deadline, "", RealClock()) {
  Begin([&stub](grpc::ClientContext* context,
                const deadline::v1::WorkRequest* request,
                deadline::v1::WorkReply* reply,
                std::function<void(grpc::Status)> done) {
    stub.async()->Work(context, request, reply, std::move(done));
  });
}

BareCall::BareCall(deadline::v1::Stats::Stub& stub, absl::Time deadline)
    : UnaryCall(deadline::v1::GetStatsRequest(), deadline, "", RealClock()) {
  Begin([&stub](grpc::ClientContext* context,
                const deadline::v1::GetStatsRequest* request,
                deadline::v1::StatsReply* reply,
                std::function<void(grpc::Status)> done) {
    stub.async()->GetStats(context, request, reply, std::move(done));
  });
}

double ClosedLoopRate(
    int in_flight, absl::Duration duration,
    const std::function<void(std::function<void()>)>& start_call) {
  struct Loop {
    const std::function<void(std::function<void()>)>& start_call;
    absl::Time end;
    std::atomic<int64_t> completed{0};
    std::atomic<int> running{0};
    absl::Notification all_done;

    void Next() {
      start_call([this] {
        completed.fetch_add(1, std::memory_order_relaxed);
        if (absl::Now() < end) {
          Next();
        } else if (running.fetch_sub(1) == 1) {
          all_done.Notify();
        }
      });
    }
  };
  Loop loop{start_call, absl::Now() + duration};
  loop.running = in_flight;
  const absl::Time start = absl::Now();
  for (int i = 0; i < in_flight; ++i) loop.Next();
  loop.all_done.WaitForNotification();
  const absl::Duration took = absl::Now() - start;
  return static_cast<double>(loop.completed.load()) /
         absl::ToDoubleSeconds(took);
}

deadline::v1::WorkRequest Work(int steps, absl::Duration step, bool spin) {
  deadline::v1::WorkRequest work;
  work.set_steps(steps);
  ToProtoDuration(step, work.mutable_step_duration());
  work.set_kind(spin ? deadline::v1::WORK_KIND_SPIN
                     : deadline::v1::WORK_KIND_SLEEP);
  return work;
}

}  // namespace deadline::bench

#include "bench/harness.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace deadline::bench {

BackendOptions QuietBackend() {
  BackendOptions options;
  options.log = LogMode::kNone;
  return options;
}

FrontendOptions QuietFrontend() {
  FrontendOptions options;
  options.log = LogMode::kNone;
  return options;
}

deadline::v1::FetchRequest FetchOf(const deadline::v1::WorkRequest& work) {
  deadline::v1::FetchRequest request;
  *request.mutable_work() = work;
  return request;
}

Servers::Servers(const BackendOptions& backend_options,
                 const FrontendOptions& options)
    : backend_(backend_options),
      frontend_(backend_.address(), options),
      bare_service_(bare_counters_) {
  absl::StatusOr<RunningServer> bare =
      StartServer("127.0.0.1:0", {&bare_service_});
  if (!bare.ok()) {
    std::fprintf(stderr, "bench: %s\n", bare.status().ToString().c_str());
    std::exit(1);
  }
  bare_ = *std::move(bare);
  bare_stub_ = deadline::v1::Stats::NewStub(testing::ChannelTo(bare_.address));
}

Servers::~Servers() {
  frontend_.Stop(absl::ZeroDuration());
  backend_.Stop(absl::ZeroDuration());
  StopServer(*bare_.server, absl::ZeroDuration(), absl::ZeroDuration());
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
    Loop(const std::function<void(std::function<void()>)>& start_call,
         absl::Time end, int running)
        : start_call(start_call), end(end), running(running) {}

    const std::function<void(std::function<void()>)>& start_call;
    const absl::Time end;
    std::atomic<int64_t> completed{0};
    std::atomic<int> running;
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
  Loop loop(start_call, absl::Now() + duration, in_flight);
  const absl::Time start = absl::Now();
  for (int i = 0; i < in_flight; ++i) loop.Next();
  loop.all_done.WaitForNotification();
  const absl::Duration took = absl::Now() - start;
  return static_cast<double>(loop.completed.load()) /
         absl::ToDoubleSeconds(took);
}

grpc::Status CallOnNewConnection(const std::string& address, ServerKind kind,
                                 absl::Duration deadline,
                                 absl::Duration* elapsed) {
  // A subchannel pool of its own: gRPC would otherwise share one
  // connection among channels to the same address.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const absl::Time start = absl::Now();
  auto channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(start + deadline));
  grpc::Status status;
  if (kind == ServerKind::kFrontend) {
    deadline::v1::FetchReply reply;
    status = deadline::v1::Frontend::NewStub(channel)->Fetch(
        &context, deadline::v1::FetchRequest(), &reply);
  } else {
    deadline::v1::WorkReply reply;
    status = deadline::v1::Backend::NewStub(channel)->Work(
        &context, deadline::v1::WorkRequest(), &reply);
  }
  *elapsed = absl::Now() - start;
  return status;
}

}  // namespace deadline::bench

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "common/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "server/deadline/cancel_signal.h"
#include "server/deadline/work_loop.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {
namespace {

// What a probe measures, on the thread that runs the Work handler, with
// that call's live server context.
using Probe = std::function<void(const grpc::ServerContextBase&)>;

// A Backend on the sync API whose Work runs the probe of the moment.
class SyncProbeService final : public deadline::v1::Backend::Service {
 public:
  explicit SyncProbeService(const Probe& probe) : probe_(probe) {}
  grpc::Status Work(grpc::ServerContext* context,
                    const deadline::v1::WorkRequest*,
                    deadline::v1::WorkReply*) override {
    probe_(*context);
    return grpc::Status::OK;
  }

 private:
  const Probe& probe_;
};

// The same on the callback API: a real CallbackServerContext, answered
// through the call's reactor. Its handler blocks while the probe runs,
// which a callback service must never do (every reaction of the process
// shares gRPC's few callback threads); here it is a measurement, one call
// at a time, and the handler's thread is where the context is asked.
class CallbackProbeService final
    : public deadline::v1::Backend::CallbackService {
 public:
  explicit CallbackProbeService(const Probe& probe) : probe_(probe) {}
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const deadline::v1::WorkRequest*,
                                 deadline::v1::WorkReply*) override {
    probe_(*context);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const Probe& probe_;
};

// A probe server of either API in this process on 127.0.0.1:0. Run() makes
// one Work call whose handler runs the probe. Not thread-safe.
class ProbeServer {
 public:
  explicit ProbeServer(testing::BackendApi api) {
    if (api == testing::BackendApi::kCallback) {
      service_ = std::make_unique<CallbackProbeService>(probe_);
    } else {
      service_ = std::make_unique<SyncProbeService>(probe_);
    }
    absl::StatusOr<RunningServer> running =
        StartServer("127.0.0.1:0", {service_.get()});
    if (!running.ok()) return;
    running_ = *std::move(running);
    stub_ =
        deadline::v1::Backend::NewStub(testing::ChannelTo(running_.address));
  }
  ~ProbeServer() {
    if (running_.server != nullptr) {
      StopServer(*running_.server, absl::ZeroDuration(), absl::ZeroDuration());
    }
  }

  // Runs `probe` inside a Work call; false when the call failed (the probe
  // may not have run).
  bool Run(Probe probe) {
    if (stub_ == nullptr) return false;
    probe_ = std::move(probe);
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Minutes(1)));
    deadline::v1::WorkReply reply;
    return stub_->Work(&context, {}, &reply).ok();
  }

 private:
  Probe probe_;
  std::unique_ptr<grpc::Service> service_;
  RunningServer running_;
  std::unique_ptr<deadline::v1::Backend::Stub> stub_;
};

// Nanoseconds per IsCancelled() on a live call of `api`.
double IsCancelledNanos(testing::BackendApi api, int iterations) {
  ProbeServer server(api);
  absl::Duration took = absl::ZeroDuration();
  int cancelled = 0;
  const bool ran = server.Run([&](const grpc::ServerContextBase& context) {
    const absl::Time start = absl::Now();
    for (int i = 0; i < iterations; ++i) cancelled += context.IsCancelled();
    took = absl::Now() - start;
  });
  if (!ran || cancelled != 0) return -1;
  return absl::ToDoubleNanoseconds(took) / iterations;
}

// Nanoseconds per `check` (one check between CPU slices), run `checks`
// times; the check returns true to stop.
template <typename Check>
double CheckNanos(int checks, Check check) {
  int stops = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < checks; ++i) stops += check();
  const absl::Duration took = absl::Now() - start;
  return stops == 0 ? absl::ToDoubleNanoseconds(took) / checks : -1;
}

// Busy work in units, so that its rate can be measured.
uint64_t Spin(uint64_t x, int64_t iterations) {
  for (int64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

}  // namespace

Section CheckingCost(const Config& config) {
  Section section{"checking_cost", "Cost of checking for cancellation"};
  // (a) IsCancelled() on a live call, in each server API.
  const int probes = config.quick ? 10'000 : 200'000;
  const double sync_ns = IsCancelledNanos(testing::BackendApi::kSync, probes);
  const double callback_ns =
      IsCancelledNanos(testing::BackendApi::kCallback, probes * 10);

  // (b) What each backend's CPU loop checks between slices (RunWork:
  // Caller::IsCancelled() and Clock::Now(), both virtual calls). The sync
  // backend's Caller is a CancelSignal that its watcher thread sets; the
  // callback backend's is the call's own context.
  const int checks = config.quick ? 10'000 : 5'000'000;
  Clock& clock = RealClock();
  CancelSignal signal;
  Caller& signal_caller = signal;
  // Both are asked at every check, as the loop does: no short-circuit.
  const auto check = [&clock](auto& asked) {
    const bool gone = asked.IsCancelled();
    const bool never = clock.Now() == absl::InfinitePast();
    return gone || never;
  };
  const double sync_check_ns =
      CheckNanos(checks, [&] { return check(signal_caller); });
  double callback_check_ns = -1;
  ProbeServer callback(testing::BackendApi::kCallback);
  callback.Run([&](const grpc::ServerContextBase& context) {
    callback_check_ns = CheckNanos(checks, [&] { return check(context); });
  });

  // (c) Throughput of CPU-bound work in slices of the backend's check
  // interval, checked after every slice as the callback backend's loop
  // does, or never: inside the callback probe's handler, so the check asks
  // a real CallbackServerContext.
  const absl::Duration slice = BackendOptions().check_interval;
  int64_t per_slice = 1000;
  while (true) {  // Calibrate one slice.
    const absl::Time s = absl::Now();
    volatile uint64_t sink = Spin(per_slice, per_slice);
    (void)sink;
    if (absl::Now() - s >= slice) break;
    per_slice *= 2;
  }
  const int slices = config.quick ? 20 : 4000;  // ~2 s each way.
  std::vector<double> losses;
  for (int rep = 0; rep < (config.quick ? 1 : 5); ++rep) {
    callback.Run([&](const grpc::ServerContextBase& context) {
      uint64_t x = 88172645463325252ull;
      absl::Time s = absl::Now();
      for (int i = 0; i < slices; ++i) x = Spin(x, per_slice);
      const absl::Duration unchecked = absl::Now() - s;
      s = absl::Now();
      for (int i = 0; i < slices; ++i) {
        x = Spin(x, per_slice);
        if (context.IsCancelled() || clock.Now() >= absl::InfiniteFuture()) {
          break;
        }
      }
      const absl::Duration checked = absl::Now() - s;
      volatile uint64_t sink = x;
      (void)sink;
      losses.push_back(absl::FDivDuration(checked - unchecked, unchecked));
    });
  }
  std::sort(losses.begin(), losses.end());
  const double loss = losses.empty() ? 1.0 : losses[losses.size() / 2];
  const auto ns = [](double value) {
    return value < 0 ? std::string("probe failed")
                     : absl::StrFormat("%.1f ns", value);
  };
  section.rows = {
      Info("ServerContext::IsCancelled(), sync API, per call", ns(sync_ns)),
      Info("CallbackServerContext::IsCancelled(), callback API, per call",
           ns(callback_ns)),
      Info("sync backend's loop check (CancelSignal + clock read)",
           ns(sync_check_ns)),
      Info("callback backend's loop check (IsCancelled() + clock read)",
           ns(callback_check_ns)),
      AtMost("CPU-bound throughput lost to the callback loop's check every "
             "0.5 ms, median of runs",
             loss, 0.02, Pct(loss), "<= 2%"),
  };
  section.figures["is_cancelled_sync_ns"] = sync_ns;
  section.figures["is_cancelled_callback_ns"] = callback_ns;
  section.figures["loop_check_sync_ns"] = sync_check_ns;
  section.figures["loop_check_callback_ns"] = callback_check_ns;
  section.figures["cpu_loss_fraction"] = loss;
  section.analysis =
      "On a sync call IsCancelled() polls the call's completion queue "
      "inside gRPC, microseconds a call, so the sync backend asks it from "
      "one watcher thread for all calls and its loop reads a flag the "
      "watcher sets. On a callback call it reads flags the call already "
      "holds, cheap enough that the callback backend's loop asks the "
      "context itself at every check, with no watcher thread. Either way a "
      "check costs tens of nanoseconds per 0.5 ms slice, below the "
      "run-to-run noise of the throughput measurement (which can make the "
      "measured loss slightly negative).";
  return section;
}

}  // namespace deadline::bench

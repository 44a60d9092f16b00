#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench/child_server.h"
#include "bench/cpu_meter.h"
#include "bench/harness.h"
#include "bench/open_loop.h"
#include "bench/partial_run.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace deadline::bench {
namespace {

using deadline::v1::FetchAllRequest;

// Over a connection of its own to the backend at `address`: one call with
// a deadline `first` from its start, then `n` calls with `then`; returns how
// much later than the client's deadline the backend's was, for the latter.
// gRPC's HPACK encoder sends a timeout as an index to one it sent before on
// the connection when the new one is shorter by less than 3%, so after
// `first` the server may see a longer timeout than the client set.
Distribution TimeoutProbe(const std::string& address, absl::Duration first,
                          absl::Duration then, int n, int id) {
  grpc::ChannelArguments args;
  args.SetInt("deadline.bench.probe", id);  // A connection of its own.
  auto stub = deadline::v1::Backend::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
  Distribution skew;
  for (int i = 0; i <= n; ++i) {
    grpc::ClientContext context;
    const absl::Time deadline = absl::Now() + (i == 0 ? first : then);
    context.set_deadline(ToGrpcDeadline(deadline));
    WantTrace(context);
    deadline::v1::WorkReply reply;
    const grpc::Status status =
        stub->Work(&context, Work(0, absl::ZeroDuration()), &reply);
    const auto trace = TraceFrom(context);
    if (i == 0 || !status.ok() || !trace.has_value() ||
        trace->hops_size() == 0 || !trace->hops(0).has_deadline()) {
      continue;
    }
    skew.Add(FromProtoTime(trace->hops(0).deadline()) - deadline);
  }
  return skew;
}

// "p50 1.2, p99 3.4, max 5.6 ms".
std::string Brief(const Distribution& d) {
  if (d.empty()) return "none";
  const Summary s = d.Summarize();
  return absl::StrFormat("p50 %.2f, p99 %.2f, max %.2f ms (n=%d)", s.p50 / 1000,
                         s.p99 / 1000, s.max / 1000, s.count);
}
std::string BriefLate(const Distribution& d) {
  if (d.empty()) return "none";
  const Summary s = d.Summarize();
  return absl::StrFormat("min %.2f, p50 %.2f, max %.2f ms (n=%d)", s.min / 1000,
                         s.p50 / 1000, s.max / 1000, s.count);
}

}  // namespace

Section Partial(const Config& config) {
  Section section{"partial",
                  "PARTIAL fan-outs at 600 calls/s, 150 ms deadlines "
                  "(real processes): where the time goes"};
  if (SkippedWithoutBinaries(config, section, "partial")) return section;
  const double load_before = LoadAverage();
  const double rate = config.quick ? 50 : 600;
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(10);
  const absl::Duration deadline = absl::Milliseconds(150);
  // Two panels that fit the budget and two that cannot (1 s each): PARTIAL
  // must answer OK in time, the slow panels DEADLINE_EXCEEDED.
  FetchAllRequest request;
  request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
  for (int p = 0; p < 4; ++p) {
    *request.add_panels() = p % 2 == 0 ? Work(1, absl::Milliseconds(20))
                                       : Work(10, absl::Milliseconds(100));
  }
  std::vector<std::unique_ptr<ChildServer>> backends;
  std::vector<std::string> addresses;
  std::vector<pid_t> pids;
  for (int i = 0; i < 2; ++i) {
    // Errors only: each slow panel's line, with its stop latency.
    backends.push_back(ChildServer::Start(
        config.bin_dir, "server/backend/backend", {"--log=errors"}));
    if (backends.back() == nullptr) {
      section.rows.push_back(Info("partial", "a backend did not start"));
      return section;
    }
    addresses.push_back(backends.back()->address());
    pids.push_back(backends.back()->pid());
  }
  {
    // The mechanism behind most of the skew below, in isolation.
    const int n = config.quick ? 5 : 50;
    const Distribution plain = TimeoutProbe(
        addresses[0], absl::Milliseconds(150), absl::Milliseconds(150), n, 1);
    const Distribution after =
        TimeoutProbe(addresses[0], absl::Microseconds(154'400),
                     absl::Milliseconds(150), n, 2);
    const Summary p = plain.Summarize();
    const Summary a = after.Summarize();
    section.rows.push_back(
        Info("probe: backend's deadline - client's, 150 ms calls on a fresh "
             "connection; the same after one 154.4 ms call",
             absl::StrFormat("p50 %.2f, max %.2f ms; p50 %.2f, max %.2f ms "
                             "(n=%d each, one call at a time)",
                             p.p50 / 1000, p.max / 1000, a.p50 / 1000,
                             a.max / 1000, a.count)));
    section.figures["probe_plain_skew.p50_us"] = p.p50;
    section.figures["probe_after_longer_skew.p50_us"] = a.p50;
  }
  section.rows.push_back(Info(
      "setup",
      absl::StrFormat(
          "a frontend over 2 backends (default flags); FetchAll PARTIAL of 4 "
          "sleeping panels, 2 of 20 ms (fit) and 2 of 1 s (cannot), panel i "
          "on backend i mod 2; Poisson arrivals at %.0f/s for %s per run; "
          "the client asks every call's trace",
          rate, absl::FormatDuration(run_for))));

  struct Variant {
    absl::Duration reserve;
    bool log_all;
  };
  // Quick mode runs the one variant that goes through every path.
  const std::vector<Variant> variants =
      config.quick ? std::vector<Variant>{{absl::Milliseconds(10), true}}
                   : std::vector<Variant>{
                         {absl::Milliseconds(10), false},
                         {absl::Milliseconds(10), true},
                         // 10 ms plus 3% of 150 ms: what taking the HPACK
                         // allowance off the budget would amount to here.
                         {absl::Microseconds(14'500), true},
                         {absl::Milliseconds(20), true},
                         {absl::Milliseconds(30), true},
                     };
  bool capacity_done = false;
  for (const Variant& variant : variants) {
    const std::string reserve_text = absl::FormatDuration(variant.reserve);
    auto frontend = ChildServer::Start(
        config.bin_dir, "server/frontend/frontend",
        {absl::StrCat("--backend=", absl::StrJoin(addresses, ",")),
         absl::StrCat("--reserve=", reserve_text),
         variant.log_all ? "--log=all" : "--log=errors"});
    if (frontend == nullptr) {
      section.rows.push_back(Info("partial", "the frontend did not start"));
      return section;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();  // Connects.
    std::vector<pid_t> all = pids;
    all.push_back(frontend->pid());
    CpuMeter cpu(all);
    if (!capacity_done) {
      // What the chain's CPU allows for this shape of call: the same
      // fan-out with panels of no work, closed loop.
      FetchAllRequest empty = request;
      for (auto& panel : *empty.mutable_panels()) {
        panel = Work(0, absl::ZeroDuration());
      }
      const auto one = AsyncCalls<deadline::v1::FetchAllReply>(
          absl::Seconds(5),
          [&](grpc::ClientContext* context, deadline::v1::FetchAllReply* reply,
              std::function<void(grpc::Status)> done) {
            stub->async()->FetchAll(context, &empty, reply, std::move(done));
          });
      ClosedLoopRate(16, absl::Milliseconds(config.quick ? 100 : 500), one);
      const double capacity = ClosedLoopRate(
          16, config.quick ? absl::Milliseconds(200) : absl::Seconds(3), one);
      section.rows.push_back(Info(
          "CPU capacity for this fan-out (panels of no work, closed loop, 16 "
          "in flight)",
          absl::StrFormat("%.0f calls/s: %.0f/s is %s of it", capacity, rate,
                          Pct(rate / capacity))));
      section.figures["capacity_empty_fanout_calls_per_s"] = capacity;
      capacity_done = true;
      frontend->TakeLog();
    }
    const PartialRun run =
        DrivePartial(rate, run_for, variant.reserve, variant.log_all, *stub,
                     request, deadline, *frontend, backends, cpu);
    const std::string n = absl::StrCat(
        "reserve ", reserve_text,
        variant.log_all ? " (frontend --log=all)" : " (--log=errors)");
    section.rows.push_back(Info(
        absl::StrCat(n, ": offered, answered"),
        absl::StrFormat("%.0f calls/s: %s; %d OK with the 2 fast panels OK "
                        "and the 2 slow ones DEADLINE_EXCEEDED; CPU backends "
                        "%.2f + %.2f, frontend %.2f, client %.2f cores",
                        run.offered, run.codes, run.ok_as_expected,
                        run.load.cores[0], run.load.cores[1], run.load.cores[2],
                        run.load.cores[3])));
    const double fraction =
        run.calls > 0 ? static_cast<double>(run.deadline_exceeded) / run.calls
                      : 0;
    section.rows.push_back(AtMost(
        absl::StrCat(n, ": DEADLINE_EXCEEDED at the client"), fraction, 0,
        absl::StrFormat("%s (%d of %d; %d by the client's own timer)",
                        Pct(fraction), run.deadline_exceeded, run.calls,
                        run.client_timer),
        "0 below capacity"));
    section.rows.push_back(Info(
        absl::StrCat(n, ": answer after the client's deadline"),
        absl::StrFormat("%d late, in %d bursts (late deadlines < 20 ms apart; "
                        "the largest %d calls); lateness p50 %s, p99 %s, max "
                        "%s",
                        run.late, run.bursts, run.largest_burst,
                        Ms(run.lateness.p50), Ms(run.lateness.p99),
                        Ms(run.lateness.max))));
    section.rows.push_back(Info(
        absl::StrCat(n, ": waiting for a CPU"),
        absl::StrFormat("run-queue wait, ms per s: backends %.1f + %.1f, "
                        "frontend %.1f, client %.1f; the client's 1 ms "
                        "sleeps: %s",
                        run.load.waits[0], run.load.waits[1], run.load.waits[2],
                        run.load.waits[3], run.load.stalls)));
    const std::string f = absl::StrCat("reserve_", reserve_text,
                                       variant.log_all ? "_log_all" : "");
    section.figures[f + ".deadline_exceeded_fraction"] = fraction;
    section.figures[f + ".deadline_exceeded"] = run.deadline_exceeded;
    section.figures[f + ".client_timer"] = run.client_timer;
    section.figures[f + ".calls"] = run.calls;
    section.figures[f + ".late_bursts"] = run.bursts;
    section.figures[f + ".frontend_wait_ms_per_s"] = run.load.waits[2];
    AddFigures(section, f + ".lateness", run.lateness);
    if (variant.log_all) {
      section.rows.push_back(Info(
          absl::StrCat(n, ": every call: frontend deadline - client's (skew)"),
          Brief(run.skew)));
      section.rows.push_back(
          Info(absl::StrCat(n, ": every call: handler start - client's send"),
               Brief(run.to_handler)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": every call: skew - (handler start - send): the "
                            "timeout itself grew (at least this)"),
               Brief(run.inflation)));
      section.rows.push_back(
          Info(absl::StrCat(
                   n, ": every call: frontend answer - its forward deadline"),
               Brief(run.conclude_lag)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": every call: slow panel's end at the frontend - "
                            "forward deadline (trace)"),
               Brief(run.panel_end_lag)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": every call: backend deadline - forward deadline "
                            "(second-hop skew); backend stop latency"),
               absl::StrCat(Brief(run.backend_skew), "; ",
                            Brief(run.backend_stop))));
      section.rows.push_back(Info(
          absl::StrCat(n, ": every call: client's receipt - frontend answer"),
          Brief(run.transit)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": calls whose slow panel the frontend's own timer "
                            "ended (the backend had not answered)"),
               absl::StrFormat("%d of %d; of the late: %d of %d",
                               run.by_frontend_timer, run.calls,
                               run.late_by_frontend_timer, run.late_logged)));
      if (run.late_logged > 0) {
        section.rows.push_back(Info(
            absl::StrCat(n,
                         ": late calls: skew; handler start - send; timeout "
                         "growth"),
            absl::StrCat(BriefLate(run.late_skew), "; ",
                         BriefLate(run.late_to_handler), "; ",
                         BriefLate(run.late_inflation))));
        section.rows.push_back(Info(
            absl::StrCat(n,
                         ": late calls: frontend answer - forward deadline; "
                         "slow panel's end there (trace)"),
            absl::StrCat(BriefLate(run.late_conclude_lag), "; ",
                         BriefLate(run.late_panel_end_lag))));
        section.rows.push_back(
            Info(absl::StrCat(n,
                              ": late calls: second-hop skew; backend stop "
                              "latency"),
                 absl::StrCat(BriefLate(run.late_backend_skew), "; ",
                              BriefLate(run.late_backend_stop))));
        for (size_t i = 0; i < run.worst.size(); ++i) {
          section.rows.push_back(
              Info(absl::StrCat(n, ": late call #", i + 1), run.worst[i]));
        }
      }
      AddFigures(section, f + ".skew", run.skew.Summarize());
      AddFigures(section, f + ".inflation", run.inflation.Summarize());
      AddFigures(section, f + ".to_handler", run.to_handler.Summarize());
      AddFigures(section, f + ".conclude_lag", run.conclude_lag.Summarize());
      AddFigures(section, f + ".backend_skew", run.backend_skew.Summarize());
      AddFigures(section, f + ".backend_stop", run.backend_stop.Summarize());
      AddFigures(section, f + ".transit", run.transit.Summarize());
      AddFigures(section, f + ".late_skew", run.late_skew.Summarize());
      AddFigures(section, f + ".late_conclude_lag",
                 run.late_conclude_lag.Summarize());
    }
  }
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Times here are differences on the machine's one clock. For each call: "
      "the client's deadline D; the frontend's deadline Df (the grpc-timeout "
      "it received, counted by gRPC from when it read the headers); the "
      "frontend answers a PARTIAL call when its slow panels end at its "
      "forward deadline Df - reserve, by the backend's answer or its own "
      "timer, so the answer leaves at D + skew - reserve + lag (skew = Df - "
      "D, lag = the answer after the forward deadline) and is late when "
      "skew + lag + transit exceeds the reserve. SKEW: gRPC 1.51's HPACK "
      "encoder compresses grpc-timeout: when the timeout to send is shorter "
      "than one sent before on the same connection by less than 3%, it "
      "sends the index of that earlier, longer one "
      "(src/core/ext/transport/chttp2/transport/hpack_encoder.cc, "
      "Encode(GrpcTimeoutMetadata); still so in later releases). A hop may "
      "thus receive up to 3% more time than its caller has, 4.5 ms of a "
      "150 ms deadline: the probe row shows it in isolation. The entry "
      "reused is an earlier timeout up to 3% longer that the connection "
      "sent, and it stays until newer entries, such as other grpc-timeout "
      "values, evict it from the connection's HPACK dynamic table: a "
      "run's skew sits at a level between 0 and ~4.5 ms set by its early "
      "calls, different between runs and connections (compare the skew "
      "rows); the "
      "'timeout itself grew' row is the skew less the time until the "
      "handler ran. The time a call waits before gRPC reads its headers "
      "adds to the skew too, but at 600/s it is small (handler start - "
      "send, p50 ~0.2 ms); its tail is the processes waiting for a CPU. "
      "The second hop skews the same way: the backend's deadline is later "
      "than the frontend's forward deadline by up to 3% of ~140 ms, more "
      "than the backend's 2 ms reserve, so for many calls the frontend's "
      "own timer ends the slow panel before the backend answers (the "
      "'frontend's own timer' row), and the panel loses the backend's "
      "account. LAG: gRPC's timer for the backend call fires ~1 ms after "
      "the forward deadline (deadlines round up to the millisecond), then "
      "the frontend concludes; its tail is the frontend waiting for a CPU. "
      "Before the fix, with the default 10 ms reserve, skew (up to ~5 ms) "
      "+ lag (p99 ~3-4 ms) + transit (p99 ~2 ms) left almost nothing, and "
      "2-3% of the calls came back late (a high skew meeting a lag tail, or "
      "a stalled process). The fix is in server/deadline/budget.cc "
      "(ArrivalSlack): "
      "each hop takes the HPACK allowance off what arrived, as it did the "
      "wire rounding, usable = at_arrival - (rounding + 3% of at_arrival "
      "rounded up to the ms), so the reserve is left for timer lag, "
      "transit and scheduling, and the backend's 2 ms reserve holds again "
      "(the second-hop skew row is now below zero). Every run above has "
      "it; the larger reserves show what margin is left. 14.5 ms is 10 ms "
      "plus 3% of 150 ms, what the fix amounts to at this deadline. A late "
      "answer that remains would have been answered by the frontend well "
      "before the deadline and reached the client too late: a stall of "
      "the client or the frontend (their run-queue waits and the client's "
      "own sleeps say so), which no reserve removes.";
  return section;
}

}  // namespace deadline::bench

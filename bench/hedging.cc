#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/call_log.h"
#include "bench/child_server.h"
#include "bench/harness.h"
#include "bench/open_loop.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "common/grpc_time.h"
#include "common/time_util.h"

namespace deadline::bench {
namespace {

using deadline::v1::FetchRequest;

struct HedgeRun {
  int calls = 0;
  std::string codes;
  Distribution latency;       // OK calls, client-side.
  Distribution fast_latency;  // OK calls answered by the fast backend
                              // without a hedge.
  int64_t backend_calls = 0;  // Started at both backends.
  int hedged = 0;             // Calls with a second attempt (traces).
  int won_by_hedge = 0;
  Distribution loser_stop;   // Loser's end at its backend - winner's end.
  int losers_cancelled = 0;  // CANCELLED lines at the backends.
  int64_t in_flight_after = 0;
};

HedgeRun DriveHedging(double rate, absl::Duration duration,
                      deadline::v1::Frontend::Stub& stub,
                      const FetchRequest& fetch,
                      std::vector<std::unique_ptr<ChildServer>>& backends,
                      const std::string& fast_address) {
  for (auto& b : backends) b->TakeLog();
  int64_t started_before = 0;
  for (auto& b : backends) started_before += b->Stats().calls_started();
  OpenLoop loop(rate, duration, 11);
  loop.Run([&](CallRecord& record, std::function<void()> done) {
    StartFetch(stub, fetch, absl::Seconds(1), /*want_trace=*/true, record,
               std::move(done));
  });
  HedgeRun run;
  for (auto& b : backends)
    run.in_flight_after += WaitIdle(*b, absl::Seconds(5));
  absl::SleepFor(absl::Milliseconds(100));  // The last log lines.
  int64_t started_after = 0;
  for (auto& b : backends) started_after += b->Stats().calls_started();
  run.backend_calls = started_after - started_before;
  std::map<std::string, std::vector<LoggedCall>> losers;
  for (auto& b : backends) {
    for (auto& [id, calls] : ParseCallLog(b->TakeLog())) {
      for (const LoggedCall& c : calls) {
        if (c.code != "CANCELLED") continue;
        losers[id].push_back(c);
        ++run.losers_cancelled;
      }
    }
  }
  const auto& records = loop.records();
  run.calls = static_cast<int>(records.size());
  run.codes = CodeCounts(records);
  for (const CallRecord& r : records) {
    if (r.code != grpc::StatusCode::OK) continue;
    run.latency.Add(r.answered - r.sent);
    if (!r.trace.has_value()) continue;
    const deadline::v1::HopTrace* winner = nullptr;
    int attempts = 0;
    for (const auto& hop : r.trace->hops()) {
      if (hop.hop() != "backend") continue;
      ++attempts;
      if (hop.code() == "OK") winner = &hop;
    }
    run.hedged += attempts > 1;
    if (winner == nullptr) continue;
    run.won_by_hedge += winner->hedge();
    if (attempts == 1 && winner->address() == fast_address) {
      run.fast_latency.Add(r.answered - r.sent);
    }
    const auto loser = losers.find(r.request_id);
    if (loser == losers.end()) continue;
    for (const LoggedCall& c : loser->second) {
      run.loser_stop.Add(c.finished - FromProtoTime(winner->finished_at()));
    }
  }
  return run;
}

}  // namespace

Section Hedging(const Config& config) {
  Section section{"hedging",
                  "Hedging over a 10x slower backend (real processes)"};
  if (SkippedWithoutBinaries(config, section, "hedging")) return section;
  const double load_before = LoadAverage();
  const double rate = config.quick ? 40 : 100;
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(500) : absl::Seconds(10);
  // One sleeping step: 10 ms on the fast backend, 100 ms on the slow one.
  const FetchRequest fetch = FetchOf(Work(1, absl::Milliseconds(10)));
  std::vector<std::unique_ptr<ChildServer>> backends;
  for (const char* slowdown : {"--slowdown=1", "--slowdown=10"}) {
    // Errors only: the losing attempts' lines (CANCELLED), with their end.
    backends.push_back(ChildServer::Start(
        config.bin_dir, "server/backend/backend", {slowdown, "--log=errors"}));
    if (backends.back() == nullptr) {
      section.rows.push_back(Info("hedging", "a backend did not start"));
      return section;
    }
  }
  const std::string fast = backends[0]->address();
  const std::string slow = backends[1]->address();
  const std::string backend_flag = absl::StrCat("--backend=", fast, ",", slow);
  section.rows.push_back(Info(
      "setup",
      absl::StrFormat("frontend %s (Fetch calls take them in turn; a hedge "
                      "goes to the next one); backends fast and "
                      "--slowdown=10; Fetch of 1 sleeping step of 10 ms, "
                      "1 s deadline; Poisson arrivals at %.0f/s for %s",
                      "--backend=fast,slow", rate,
                      absl::FormatDuration(run_for))));

  HedgeRun off;
  HedgeRun on;
  absl::Duration hedge_after = absl::Milliseconds(15);
  for (bool hedging : {false, true}) {
    std::vector<std::string> args = {backend_flag, "--log=none"};
    if (hedging) {
      args.push_back(
          absl::StrCat("--hedge_after=", absl::FormatDuration(hedge_after)));
    }
    auto frontend =
        ChildServer::Start(config.bin_dir, "server/frontend/frontend", args);
    if (frontend == nullptr) {
      section.rows.push_back(Info("hedging", "the frontend did not start"));
      return section;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();  // Connects.
    // Warm-up: both backend connections.
    for (int i = 0; i < 4; ++i) {
      grpc::ClientContext context;
      context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(1)));
      deadline::v1::FetchReply reply;
      stub->Fetch(&context, fetch, &reply).IgnoreError();
    }
    HedgeRun run = DriveHedging(rate, run_for, *stub, fetch, backends, fast);
    if (!hedging) {
      // The hedge delay: the fast backend's p95 through the chain.
      const double p95 = run.fast_latency.Percentile(0.95);
      if (p95 > 0) {
        hedge_after =
            absl::Ceil(absl::Microseconds(p95), absl::Microseconds(100));
      }
      off = std::move(run);
    } else {
      on = std::move(run);
    }
  }
  const Summary a = off.latency.Summarize();
  const Summary b = on.latency.Summarize();
  const auto latency = [](const Summary& s) {
    return absl::StrFormat("p50 %s, p90 %s, p99 %s, max %s (n=%d)", Ms(s.p50),
                           Ms(s.p90), Ms(s.p99), Ms(s.max), s.count);
  };
  section.rows.push_back(
      Info("hedging off: fast backend alone, through the chain",
           absl::StrFormat("p50 %s, p95 %s: --hedge_after=%s",
                           Ms(off.fast_latency.Percentile(0.5)),
                           Ms(off.fast_latency.Percentile(0.95)),
                           absl::FormatDuration(hedge_after))));
  for (const auto* run : {&off, &on}) {
    const std::string n =
        run == &off ? "hedging off"
                    : absl::StrCat("hedging on (--hedge_after=",
                                   absl::FormatDuration(hedge_after), ")");
    const Summary s = run->latency.Summarize();
    section.rows.push_back(Info(absl::StrCat(n, ": answered"), run->codes));
    section.rows.push_back(
        Info(absl::StrCat(n, ": latency of OK calls"), latency(s)));
    section.rows.push_back(Info(
        absl::StrCat(n, ": backend calls per call (both backends' Stats)"),
        absl::StrFormat(
            "%.2f (%d calls hedged, %d won by the hedge)",
            run->calls ? static_cast<double>(run->backend_calls) / run->calls
                       : 0.0,
            run->hedged, run->won_by_hedge)));
    AddFigures(section, run == &off ? "off.latency" : "on.latency", s);
    section.figures[run == &off ? "off.attempts_per_call"
                                : "on.attempts_per_call"] =
        run->calls ? static_cast<double>(run->backend_calls) / run->calls : 0;
  }
  const Summary stop = on.loser_stop.Summarize();
  section.rows.push_back(AtMost(
      "hedging on: the losing attempt's end at its backend - the winner's "
      "end",
      stop.p99, 5000,
      absl::StrFormat("p50 %s, p99 %s, max %s (%d losers cancelled at the "
                      "backends); calls in flight after: %d",
                      Ms(stop.p50), Ms(stop.p99), Ms(stop.max),
                      on.losers_cancelled, on.in_flight_after),
      "p99 <= 5 ms"));
  const double ratio = b.p99 > 0 ? a.p99 / b.p99 : 0;
  section.rows.push_back(AtLeast("p99 off / on", ratio, 2, X(ratio), ">= 2x"));
  const double extra =
      off.calls && on.calls
          ? static_cast<double>(on.backend_calls) / on.calls -
                static_cast<double>(off.backend_calls) / off.calls
          : 0;
  section.rows.push_back(Info("extra load: backend calls per client call",
                              absl::StrFormat("+%.2f", extra)));
  section.figures["p99_off_over_on"] = ratio;
  section.figures["hedge_after_us"] = absl::ToDoubleMicroseconds(hedge_after);
  AddFigures(section, "loser_stop", stop);
  section.distributions = {off.latency, on.latency};
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Fetch calls take the backends in turn, so half start on the slow one. "
      "Hedging off, those answer in the slow backend's ~100 ms: p90 and "
      "p99 are the slow backend's, and the p50 falls on the boundary "
      "between the two halves. Hedging on, with --hedge_after at the fast "
      "backend's p95 through the chain, every call that started on the "
      "slow backend gets a second attempt on the fast one and answers at "
      "hedge delay + the fast call; the slow attempt is cancelled with "
      "TryCancel the moment the hedge wins, and the slow backend ends it "
      "(OnCancel of a sleeping call) within about a millisecond of the "
      "winner's end (from the backends' log lines: the loser's end at its "
      "backend less the winner's end at its own). The cost is the second "
      "attempts: +0.5 backend calls per call, each losing attempt having "
      "run only for the hedge delay. Few fast-first calls pass the p95 "
      "through the chain, so few hedges go to the slow backend. A real "
      "service would take the delay from the p95 of all its backends; a "
      "deliberately bimodal pair makes the win large here.";
  return section;
}

}  // namespace deadline::bench

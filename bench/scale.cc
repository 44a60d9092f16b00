#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/call_log.h"
#include "bench/child_server.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"
#include "tests/support/proc_stats.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {
namespace {

using testing::BackendApi;

// The worker count the callback backend announced with its address
// ("... (callback API, 2 workers)"); 0 when it did not.
int WorkersOf(ChildServer& backend) {
  const std::string out = backend.AllOutput();
  const size_t at = out.find("API, ");
  int workers = 0;
  if (at == std::string::npos) return 0;
  const size_t end = out.find(' ', at + 5);
  return absl::SimpleAtoi(out.substr(at + 5, end - at - 5), &workers) ? workers
                                                                      : 0;
}

// The most threads and resident memory a process was seen holding.
struct Peak {
  int threads = 0;
  double rss_mb = 0;
  void Sample(pid_t pid) {
    threads = std::max(threads, testing::ThreadsOf(pid));
    rss_mb = std::max(rss_mb, testing::RssMegabytesOf(pid));
  }
  std::string ToString() const {
    return absl::StrFormat("%d threads, %.1f MB RSS", threads, rss_mb);
  }
};

// A Backend.Work call through the async stub, as lean as a client makes
// it: no request id, no trace asked for.
struct HeldCall {
  grpc::ClientContext context;
  deadline::v1::WorkReply reply;
  absl::Notification done;
};

// One run of HoldThenCancel().
struct CancelRun {
  // Empty when the run went as planned; otherwise what went wrong.
  std::string failure;
  int workers = 0;
  Peak rest;                  // After start and one Stats call.
  Peak held;                  // While the calls were started and in flight.
  int64_t queue_depth = 0;    // Once all were in flight.
  absl::Duration fill;        // First call started to all in flight.
  absl::Duration cancelling;  // First TryCancel() to the last.
  // The last TryCancel() to the Stats reply that said 0 calls in flight;
  // infinite when none did within 10 s.
  absl::Duration emptied = absl::InfiniteDuration();
  int64_t shed = 0;  // calls_shed at the end.
  // CPU seconds the backend and this process used from the first
  // TryCancel() until calls_in_flight read 0.
  double backend_cpu = 0;
  double client_cpu = 0;
};

// Starts one backend process of `api`, starts `calls` Backend.Work calls
// of `work` on it from this process through the async stub (no thread per
// call here either), without a deadline, and waits until its Stats count
// them all in flight (and, for CPU-bound work on the callback API, all but
// one per worker queued). Then cancels each from the client, TryCancel()
// after TryCancel(), and polls the Stats every millisecond until
// calls_in_flight is 0.
CancelRun HoldThenCancel(const Config& config, BackendApi api, int calls,
                         const deadline::v1::WorkRequest& work) {
  CancelRun run;
  const bool callback = api == BackendApi::kCallback;
  // The backend's default deadline is raised so that no call ends before
  // the client cancels it.
  auto backend = ChildServer::Start(config.bin_dir, "server/backend/backend",
                                    {callback ? "--api=callback" : "--api=sync",
                                     "--log=none", "--default_deadline=60s"});
  if (backend == nullptr) {
    run.failure = "the backend did not start";
    return run;
  }
  const pid_t pid = backend->pid();
  backend->Stats();  // Connects the channel.
  run.rest.Sample(pid);
  run.held = run.rest;
  run.workers = callback ? WorkersOf(*backend) : 0;
  const int64_t queued = callback && work.kind() == deadline::v1::WORK_KIND_SPIN
                             ? std::max(0, calls - run.workers)
                             : 0;

  auto stub = deadline::v1::Backend::NewStub(backend->channel());
  std::vector<std::unique_ptr<HeldCall>> held;
  held.reserve(calls);
  const absl::Time start = absl::Now();
  for (int i = 0; i < calls; ++i) {
    held.push_back(std::make_unique<HeldCall>());
    HeldCall* call = held.back().get();
    stub->async()->Work(&call->context, &work, &call->reply,
                        [call](const grpc::Status&) { call->done.Notify(); });
    if (i % 100 == 0) run.held.Sample(pid);
  }
  deadline::v1::StatsReply stats;
  const bool all_in = testing::WaitUntil(
      [&] {
        run.held.Sample(pid);
        stats = backend->Stats();
        return stats.calls_in_flight() == calls &&
               stats.queue_depth() == queued;
      },
      absl::Seconds(60));
  run.fill = absl::Now() - start;
  run.queue_depth = stats.queue_depth();
  if (!all_in) {
    run.failure =
        absl::StrCat(stats.calls_in_flight(), " of ", calls, " in flight (",
                     stats.queue_depth(), " queued) after 60 s");
  }
  // Held a moment longer: whatever a call costs has been paid by now.
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
    run.held.Sample(pid);
  }

  const double backend_cpu = testing::CpuSecondsOf(pid);
  const double client_cpu = testing::OwnCpuSeconds();
  const absl::Time first_cancel = absl::Now();
  for (auto& call : held) call->context.TryCancel();
  const absl::Time last_cancel = absl::Now();
  run.cancelling = last_cancel - first_cancel;
  if (testing::WaitUntil(
          [&] {
            stats = backend->Stats();
            return stats.calls_in_flight() == 0;
          },
          absl::Seconds(10))) {
    run.emptied = absl::Now() - last_cancel;
  }
  run.backend_cpu = testing::CpuSecondsOf(pid) - backend_cpu;
  run.client_cpu = testing::OwnCpuSeconds() - client_cpu;
  run.shed = stats.calls_shed();
  for (auto& call : held) call->done.WaitForNotification();
  return run;
}

void AddFigures(Section& section, const std::string& prefix,
                const CancelRun& run) {
  section.figures[prefix + ".threads_at_rest"] = run.rest.threads;
  section.figures[prefix + ".threads_max"] = run.held.threads;
  section.figures[prefix + ".rss_mb_at_rest"] = run.rest.rss_mb;
  section.figures[prefix + ".rss_mb_max"] = run.held.rss_mb;
  section.figures[prefix + ".fill_ms"] = absl::ToDoubleMilliseconds(run.fill);
  section.figures[prefix + ".cancelling_ms"] =
      absl::ToDoubleMilliseconds(run.cancelling);
  section.figures[prefix + ".emptied_ms"] =
      absl::ToDoubleMilliseconds(run.emptied);
  section.figures[prefix + ".queue_depth"] = run.queue_depth;
  section.figures[prefix + ".shed"] = run.shed;
  section.figures[prefix + ".cancel_cpu_backend_s"] = run.backend_cpu;
  section.figures[prefix + ".cancel_cpu_client_s"] = run.client_cpu;
}

// "12.345 ms", or "not within 10 s".
std::string MsOrNever(absl::Duration d) {
  return d == absl::InfiniteDuration() ? std::string("not within 10 s")
                                       : Ms(absl::ToDoubleMicroseconds(d));
}

// Held sleep-like calls: threads (and memory) per call, and how fast the
// backend lets go of them when the client cancels.
void SleepingCalls(const Config& config, BackendApi api, int calls,
                   Section& section) {
  const bool callback = api == BackendApi::kCallback;
  const std::string name = absl::StrCat(calls, " sleeping calls, ",
                                        callback ? "callback" : "sync", " API");
  const CancelRun run =
      HoldThenCancel(config, api, calls, Work(3, absl::Seconds(10)));
  if (!run.failure.empty()) {
    section.rows.push_back({absl::StrCat(name, ": run"), run.failure,
                            "all in flight", Verdict::kMissed});
  }
  section.rows.push_back(
      Info(absl::StrCat(name, ": backend at rest"), run.rest.ToString()));
  const std::string held = absl::StrFormat(
      "%d threads, %.1f MB RSS (%+.1f KB per call); all in flight after %s",
      run.held.threads, run.held.rss_mb,
      (run.held.rss_mb - run.rest.rss_mb) * 1024 / calls,
      Ms(absl::ToDoubleMicroseconds(run.fill)));
  const std::string emptied = absl::StrFormat(
      "%s (the client's %d TryCancel() took %s; CPU until then: backend %.0f "
      "ms, client %.0f ms)",
      MsOrNever(run.emptied), calls,
      Ms(absl::ToDoubleMicroseconds(run.cancelling)), run.backend_cpu * 1000,
      run.client_cpu * 1000);
  const double emptied_us = absl::ToDoubleMicroseconds(run.emptied);
  if (callback) {
    section.rows.push_back(
        AtMost(absl::StrCat(name, ": backend threads (max) while in flight"),
               run.held.threads, 32, held, "<= 32"));
    section.rows.push_back(
        AtMost(absl::StrCat(name, ": calls_in_flight 0 after the last cancel"),
               emptied_us, 150'000, emptied, "<= 150 ms"));
  } else {
    section.rows.push_back(Info(
        absl::StrCat(name, ": backend threads (max) while in flight"), held));
    section.rows.push_back(
        Info(absl::StrCat(name, ": calls_in_flight 0 after the last cancel"),
             emptied));
  }
  AddFigures(section,
             absl::StrCat(callback ? "callback" : "sync", ".sleeping_", calls),
             run);
}

// Held CPU-bound calls, most of them queued for a worker (callback) or each
// spinning on a thread of its own (sync): how fast the backend lets go of
// them when the client cancels.
void CpuBoundCalls(const Config& config, BackendApi api, int calls,
                   Section& section) {
  const bool callback = api == BackendApi::kCallback;
  const std::string name = absl::StrCat(calls, " CPU-bound calls, ",
                                        callback ? "callback" : "sync", " API");
  // 1 s of spinning each: none finishes before it is cancelled, and 50 of
  // them (25 s of work per worker) fit in the 60 s deadline, so the
  // backend queues them all rather than refusing what would run late.
  const CancelRun run = HoldThenCancel(
      config, api, calls, Work(100, absl::Milliseconds(10), /*spin=*/true));
  if (!run.failure.empty()) {
    section.rows.push_back({absl::StrCat(name, ": run"), run.failure,
                            "all in flight", Verdict::kMissed});
  }
  const std::string held =
      callback
          ? absl::StrFormat("%d queued for %d workers; %s", run.queue_depth,
                            run.workers, run.held.ToString())
          : run.held.ToString();
  section.rows.push_back(
      Info(absl::StrCat(name, ": all in flight (max)"), held));
  const std::string emptied =
      callback ? absl::StrCat(MsOrNever(run.emptied), " (", run.shed,
                              " shed from the queue)")
               : MsOrNever(run.emptied);
  const double emptied_us = absl::ToDoubleMicroseconds(run.emptied);
  if (callback) {
    section.rows.push_back(
        AtMost(absl::StrCat(name, ": calls_in_flight 0 after the last cancel"),
               emptied_us, 50'000, emptied, "<= 50 ms"));
  } else {
    section.rows.push_back(
        Info(absl::StrCat(name, ": calls_in_flight 0 after the last cancel"),
             emptied));
  }
  AddFigures(section,
             absl::StrCat(callback ? "callback" : "sync", ".cpu_", calls), run);
}

// Slow fan-outs through a frontend over three callback backends, all real
// processes: does every call still answer before its client's deadline?
void FanOuts(const Config& config, Section& section) {
  std::vector<std::unique_ptr<ChildServer>> backends;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    // Every call's log line, for the stop latencies.
    backends.push_back(ChildServer::Start(
        config.bin_dir, "server/backend/backend", {"--log=all"}));
    if (backends.back() == nullptr) {
      section.rows.push_back(Info("fan-outs", "a backend did not start"));
      return;
    }
    addresses.push_back(backends.back()->address());
  }
  // Every call's log line, for the deadline it worked to.
  auto frontend = ChildServer::Start(
      config.bin_dir, "server/frontend/frontend",
      {"--log=all", absl::StrCat("--backend=", absl::StrJoin(addresses, ","))});
  if (frontend == nullptr) {
    section.rows.push_back(Info("fan-outs", "the frontend did not start"));
    return;
  }
  auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
  frontend->Stats();  // Connects the channel before the first burst.
  Peak frontend_rest;
  frontend_rest.Sample(frontend->pid());
  section.rows.push_back(
      Info("fan-outs: frontend at rest", frontend_rest.ToString()));

  constexpr int kPanels = 10;
  for (int panels :
       config.quick ? std::vector<int>{50} : std::vector<int>{1000, 5000}) {
    std::vector<std::unique_ptr<FetchAllCall>> calls;
    std::vector<absl::Time> deadlines;
    for (int i = 0; i < panels / kPanels; ++i) {
      deadline::v1::FetchAllRequest request;
      request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
      for (int p = 0; p < kPanels; ++p) {
        *request.add_panels() = Work(1, absl::Seconds(10));  // Never done.
      }
      // Mixed deadlines, 0.5 to 2 s.
      deadlines.push_back(absl::Now() +
                          absl::Milliseconds(500 + (i * 37) % 1500));
      calls.push_back(
          std::make_unique<FetchAllCall>(*stub, request, deadlines.back()));
    }
    Peak front = frontend_rest;
    Peak back;
    for (auto& call : calls) {
      while (!call->WaitFor(absl::Milliseconds(10))) {
        front.Sample(frontend->pid());
        for (auto& backend : backends) back.Sample(backend->pid());
      }
    }
    int late = 0;
    int not_ok = 0;
    Distribution lateness("answer after the client's deadline");
    std::map<std::string, absl::Time> deadline_of;  // By request id.
    for (size_t i = 0; i < calls.size(); ++i) {
      const auto& outcome = calls[i]->Wait();
      const absl::Time answered = outcome.start + outcome.elapsed;
      late += answered > deadlines[i];
      not_ok += !outcome.status.ok();
      lateness.Add(answered - deadlines[i]);
      deadline_of[outcome.request_id] = deadlines[i];
    }
    // Nothing left in flight anywhere, and the servers' last log lines.
    int64_t in_flight = 0;
    testing::WaitUntil(
        [&] {
          in_flight = 0;
          for (auto& backend : backends) {
            in_flight += backend->Stats().calls_in_flight();
          }
          return in_flight == 0;
        },
        absl::Seconds(10));
    absl::SleepFor(absl::Milliseconds(100));
    // The deadline the frontend worked to, from its log lines (arrival +
    // budget at arrival), against the client's own.
    Distribution skew("frontend's deadline after the client's");
    for (const auto& [id, logged] : ParseCallLog(frontend->TakeLog())) {
      const auto client = deadline_of.find(id);
      if (client == deadline_of.end()) continue;
      for (const LoggedCall& call : logged) {
        if (call.budget == absl::InfiniteDuration()) continue;
        skew.Add(call.deadline() - client->second);
      }
    }
    // The backends' calls, from their log lines: how late each stopped
    // after its own deadline, or after its caller went away.
    Distribution stop("backend call end after its deadline");
    Distribution cancel("backend call end after a cancellation");
    for (auto& backend : backends) {
      for (absl::string_view line : absl::StrSplit(backend->TakeLog(), '\n')) {
        const size_t at = line.find("stop_latency=");
        if (at == absl::string_view::npos) continue;
        const size_t end = line.find(' ', at);
        const absl::string_view value = line.substr(at + 13, end - at - 13);
        absl::Duration d;
        if (!absl::ParseDuration(value, &d)) continue;
        (absl::StrContains(line, "code=CANCELLED") ? cancel : stop).Add(d);
      }
    }
    const Summary s = stop.Summarize();
    const Summary c = cancel.Summarize();
    const Summary l = lateness.Summarize();
    const std::string n = absl::StrCat(panels, " panels");
    section.rows.push_back(
        Info(absl::StrCat(n, ": frontend (max)"), front.ToString()));
    section.rows.push_back(
        Info(absl::StrCat(n, ": busiest backend (max)"), back.ToString()));
    section.rows.push_back(
        AtMost(absl::StrCat(n, ": calls answered after the client's deadline"),
               late, 0,
               absl::StrCat(late, " of ", calls.size(), " (p50 ", Ms(l.p50),
                            " after it, max ", Ms(l.max), ")"),
               "0"));
    section.rows.push_back(
        Info(absl::StrCat(n,
                          ": the frontend's deadline later than the "
                          "client's by"),
             Spread(skew.Summarize())));
    section.rows.push_back(
        Info(absl::StrCat(n, ": calls not OK"), absl::StrCat(not_ok)));
    section.rows.push_back(AtMost(
        absl::StrCat(n, ": backend calls stopped by their deadline (", s.count,
                     "), stop latency p50 / p99"),
        s.p99, 5000, absl::StrCat(Ms(s.p50), " / ", Ms(s.p99)), "p99 <= 5 ms"));
    section.rows.push_back(
        Info(absl::StrCat(n, ": backend calls stopped by a cancellation (",
                          c.count, "), stop latency p50 / p99"),
             absl::StrCat(Ms(c.p50), " / ", Ms(c.p99))));
    section.rows.push_back(AtMost(absl::StrCat(n, ": calls in flight after"),
                                  in_flight, 0, absl::StrCat(in_flight), "0"));
    const std::string f = absl::StrCat("fanout_", panels);
    section.figures[f + ".frontend_threads_max"] = front.threads;
    section.figures[f + ".frontend_rss_mb_max"] = front.rss_mb;
    section.figures[f + ".backend_threads_max"] = back.threads;
    section.figures[f + ".backend_rss_mb_max"] = back.rss_mb;
    section.figures[f + ".late_calls"] = late;
    section.figures[f + ".in_flight_after"] = in_flight;
    AddFigures(section, f + ".backend_stop", s);
    AddFigures(section, f + ".backend_cancel_stop", c);
    AddFigures(section, f + ".answer_lateness", l);
    AddFigures(section, f + ".frontend_deadline_skew", skew.Summarize());
  }
}

}  // namespace

Section Scale(const Config& config) {
  Section section{"scale",
                  "Scale (real processes: held calls cancelled by the "
                  "client; slow fan-outs)"};
  if (SkippedWithoutBinaries(config, section, "scale")) return section;
  const double load_before = LoadAverage();
  SleepingCalls(config, BackendApi::kCallback, config.quick ? 50 : 5000,
                section);
  SleepingCalls(config, BackendApi::kSync, config.quick ? 20 : 1000, section);
  const int cpu_calls = config.quick ? 6 : 50;
  CpuBoundCalls(config, BackendApi::kCallback, cpu_calls, section);
  CpuBoundCalls(config, BackendApi::kSync, cpu_calls, section);
  FanOuts(config, section);
  const double load_after = LoadAverage();
  section.rows.push_back(LoadRow(load_before, load_after));
  section.figures["load_before"] = load_before;
  section.figures["load_after"] = load_after;
  section.analysis =
      "Every server here is a separate process, and the client is this "
      "one, on the same two cores: the load row says what else ran. Held "
      "calls: on the callback API a sleeping call is a reactor and a timer, "
      "not a thread, so 5000 of them leave the backend at its resting "
      "thread count (gRPC's pollers and callback threads, the timer thread, "
      "the workers) and cost ~17 KB each; on the sync API each held call is "
      "a thread (1000 calls, ~1000 more threads, ~30 KB each). Cancelled by "
      "the client, a callback call ends in its OnCancel at once; what the "
      "150 ms floor then measures is how fast one backend gets through 5000 "
      "RST_STREAMs and call teardowns, ~50 us of CPU each (the CPU column), "
      "almost all of it gRPC's own call and transport work, while the "
      "client's 5000 TryCancel() calls compete for the same cores: the "
      "backlog left at the last cancel is what the floor sees, so it "
      "depends on the CPU left over. CPU-bound calls on the callback API "
      "take a worker each (one per core) and the rest wait in the queue; "
      "cancelled, the queued ones leave it in OnCancel without doing a step "
      "(shed) and the running ones see IsCancelled() at their next 0.5 ms "
      "check. On the sync API all 50 spin at once on two cores, and the one "
      "watcher thread that must notice their cancellation competes with "
      "them for a core. Fan-outs: a frontend over three callback backends, "
      "each panel one sleeping backend call; threads stay flat in every "
      "process and memory grows with the calls in flight. The frontend "
      "answers a PARTIAL fan-out when its panels' deadlines, 10 ms before "
      "its own, fire. The calls start in one burst (100 or 500 at once) and "
      "wait to be read while the frontend works through it; grpc-timeout "
      "counts from the read, so alone it would give each waiting call more "
      "time than its client has. Each hop plans from the client's "
      "deadline-at instead, plus the allowed clock skew (2 ms): the skew "
      "row, from the frontend's log lines, is that allowance and no more, "
      "and the answers leave before the client's deadline.";
  return section;
}

}  // namespace deadline::bench

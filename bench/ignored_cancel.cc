#include <algorithm>
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

namespace deadline::bench {

using deadline::v1::FetchRequest;

Section IgnoredCancel(const Config& config) {
  Section section{"ignored_cancel",
                  "Work done for callers that left: propagation on, off, "
                  "and a backend that ignores cancellation (real "
                  "processes)"};
  if (SkippedWithoutBinaries(config, section, "ignored_cancel")) return section;
  const double load_before = LoadAverage();
  const double rate = config.quick ? 20 : 20;
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(5);
  const absl::Duration leave_after = absl::Milliseconds(50);
  const absl::Duration step = absl::Milliseconds(10);
  const FetchRequest fetch = FetchOf(Work(20, step));  // 200 ms.
  section.rows.push_back(Info(
      "setup",
      absl::StrFormat("Fetch of 20 sleeping steps of 10 ms; every other call "
                      "has a 50 ms deadline, the rest no deadline and a "
                      "client cancel after 50 ms; Poisson arrivals at %.0f/s "
                      "for %s",
                      rate, absl::FormatDuration(run_for))));
  struct Variant {
    std::string name;
    std::vector<std::string> backend_args;
    std::vector<std::string> frontend_args;
  };
  const std::vector<Variant> variants = {
      {"propagation on, backend checks", {}, {}},
      {"frontend --propagation=off (anti-pattern)", {}, {"--propagation=off"}},
      {"backend --ignore_cancel (anti-pattern)", {"--ignore_cancel"}, {}},
  };
  for (const Variant& variant : variants) {
    std::vector<std::string> backend_args = variant.backend_args;
    backend_args.push_back("--log=all");  // Every call's steps and end.
    auto backend = ChildServer::Start(config.bin_dir, "server/backend/backend",
                                      backend_args);
    if (backend == nullptr) {
      section.rows.push_back(
          Info(variant.name,
               "the backend did not start (--ignore_cancel is on "
               "main from 2026-11-23)"));
      continue;
    }
    std::vector<std::string> frontend_args = variant.frontend_args;
    frontend_args.push_back("--log=none");
    frontend_args.push_back(absl::StrCat("--backend=", backend->address()));
    auto frontend = ChildServer::Start(
        config.bin_dir, "server/frontend/frontend", frontend_args);
    if (frontend == nullptr) {
      section.rows.push_back(Info(variant.name, "the frontend did not start"));
      continue;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();
    backend->TakeLog();
    OpenLoop loop(rate, run_for, 5);
    int index = 0;
    loop.Run([&](CallRecord& record, std::function<void()> done) {
      const bool cancels = index++ % 2 == 1;
      StartFetch(*stub, fetch, cancels ? absl::InfiniteDuration() : leave_after,
                 /*want_trace=*/false, record, std::move(done),
                 cancels ? leave_after : absl::InfiniteDuration());
    });
    const int64_t in_flight = WaitIdle(*backend, absl::Seconds(10));
    absl::SleepFor(absl::Milliseconds(100));  // The last log lines.
    const auto log = ParseCallLog(backend->TakeLog());
    int64_t steps = 0;
    int64_t after = 0;
    int matched = 0;
    int full = 0;
    Distribution worked_after;
    for (const CallRecord& r : loop.records()) {
      const auto it = log.find(r.request_id);
      if (it == log.end() || it->second.empty()) continue;
      const LoggedCall& b = it->second.front();
      const absl::Time left = r.sent + leave_after;
      const int by_then = static_cast<int>(
          std::clamp<int64_t>((left - b.arrived) / step, 0, 20));
      ++matched;
      steps += b.steps_done;
      full += b.steps_done == 20;
      after += std::max(0, b.steps_done - by_then);
      worked_after.Add(std::max(b.finished - left, absl::ZeroDuration()));
    }
    const Summary w = worked_after.Summarize();
    const double per_call = matched ? static_cast<double>(steps) / matched : 0;
    const double after_per_call =
        matched ? static_cast<double>(after) / matched : 0;
    section.rows.push_back(Info(
        absl::StrCat(variant.name, ": steps done per call"),
        absl::StrFormat("%.1f of 20 (%d of %d calls ran all 20); answered: %s",
                        per_call, full, matched, CodeCounts(loop.records()))));
    section.rows.push_back(Info(
        absl::StrCat(variant.name, ": steps done after the caller left"),
        absl::StrFormat("%.1f per call (%s of all steps); backend busy after "
                        "the caller left: mean %s, max %s; calls in flight "
                        "after: %d",
                        after_per_call,
                        Pct(steps ? static_cast<double>(after) / steps : 0),
                        Ms(w.mean), Ms(w.max), in_flight)));
    const std::string f =
        variant.backend_args.empty()
            ? (variant.frontend_args.empty() ? "on" : "propagation_off")
            : "ignore_cancel";
    section.figures[f + ".steps_per_call"] = per_call;
    section.figures[f + ".steps_after_left_per_call"] = after_per_call;
    section.figures[f + ".busy_after_left_mean_us"] = w.mean;
  }
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Same load for each: with propagation and a backend that checks, no "
      "step runs after the caller left; the backend ends the call within "
      "about a millisecond (the busy-after figure). With propagation off "
      "the backend never hears that the caller left and runs all 20 steps "
      "of every call, 16 of them (~150 ms) for nobody. With "
      "--ignore_cancel the cancellation reaches the backend and is never "
      "checked: the waste is exactly that of propagation off. Propagation "
      "without checking saves nothing; checking is the half that does the "
      "work. (With propagation on, a sleeping call that the client "
      "cancels reports 0 steps done: the backend counts a sleeping call's "
      "steps when its timer fires, not when OnCancel ends it; the steps "
      "after the caller left are 0 either way.)";
  return section;
}

}  // namespace deadline::bench

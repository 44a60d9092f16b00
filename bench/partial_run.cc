#include "bench/partial_run.h"

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/call_log.h"
#include "bench/child_server.h"
#include "bench/open_loop.h"
#include "common/time_util.h"

namespace deadline::bench {
namespace {

// How one PARTIAL call's time was spent, from the client's record and the
// servers' logs. Every figure is a difference of times on this machine's
// one clock.
struct PartialTimes {
  bool logged = false;  // The frontend's line was found.
  // The frontend's deadline after the client's: time before gRPC read the
  // call's headers (it counts the timeout from there) and the rounding up
  // of the timeout.
  absl::Duration skew;
  // The frontend's handler start after the client sent the call.
  absl::Duration to_handler;
  // The frontend's answer after its forward deadline (its deadline less
  // the reserve): how late the last panel ended there.
  absl::Duration conclude_lag;
  // The frontend's answer after the client's deadline (positive: late).
  absl::Duration frontend_end_after_deadline;
  // The client saw the answer this long after the frontend sent it
  // (unset when the client's own timer ended the call first).
  absl::optional<absl::Duration> transit;
  // Over the panels that ended at their deadline on a backend: the latest
  // backend deadline after the frontend's forward deadline (second-hop
  // skew), and the worst stop latency there.
  absl::optional<absl::Duration> backend_skew;
  absl::optional<absl::Duration> backend_stop_latency;
  // The latest a panel ended at the frontend after its forward deadline
  // (from the trace; unset without one).
  absl::optional<absl::Duration> panel_end_lag;
  // How many panels the frontend's own timer ended (no backend answer).
  int panels_by_frontend_timer = 0;
};

PartialTimes TimesOf(
    const CallRecord& record, absl::Duration reserve,
    const std::map<std::string, std::vector<LoggedCall>>& frontend_log,
    const std::map<std::string, std::vector<LoggedCall>>& backend_log) {
  PartialTimes t;
  const auto front = frontend_log.find(record.request_id);
  if (front == frontend_log.end() || front->second.empty()) return t;
  const LoggedCall& f = front->second.front();
  if (f.budget == absl::InfiniteDuration()) return t;
  t.logged = true;
  const absl::Time forward_deadline = f.deadline() - reserve;
  t.skew = f.deadline() - record.deadline;
  t.to_handler = f.arrived - record.sent;
  t.conclude_lag = f.finished - forward_deadline;
  t.frontend_end_after_deadline = f.finished - record.deadline;
  if (record.trace.has_value()) t.transit = record.answered - f.finished;
  const auto back = backend_log.find(record.request_id);
  if (back != backend_log.end()) {
    for (const LoggedCall& b : back->second) {
      if (b.code != "DEADLINE_EXCEEDED" ||
          b.budget == absl::InfiniteDuration()) {
        continue;
      }
      const absl::Duration skew2 = b.deadline() - forward_deadline;
      t.backend_skew =
          t.backend_skew.has_value() ? std::max(*t.backend_skew, skew2) : skew2;
      t.backend_stop_latency =
          t.backend_stop_latency.has_value()
              ? std::max(*t.backend_stop_latency, b.stop_latency)
              : b.stop_latency;
    }
  }
  if (record.trace.has_value()) {
    for (const auto& hop : record.trace->hops()) {
      if (hop.hop() != "backend") continue;
      const absl::Duration lag =
          FromProtoTime(hop.finished_at()) - forward_deadline;
      if (absl::StartsWith(hop.stop(), "no answer")) {
        ++t.panels_by_frontend_timer;
      }
      if (hop.code() == "DEADLINE_EXCEEDED") {
        t.panel_end_lag =
            t.panel_end_lag.has_value() ? std::max(*t.panel_end_lag, lag) : lag;
      }
    }
  }
  return t;
}

void Add(Distribution& d, const absl::optional<absl::Duration>& v) {
  if (v.has_value()) d.Add(*v);
}

}  // namespace

PartialRun DrivePartial(double rate, absl::Duration duration,
                        absl::Duration reserve, bool logged,
                        deadline::v1::Frontend::Stub& stub,
                        const deadline::v1::FetchAllRequest& request,
                        absl::Duration deadline, ChildServer& frontend,
                        std::vector<std::unique_ptr<ChildServer>>& backends,
                        CpuMeter& cpu) {
  frontend.TakeLog();
  for (auto& b : backends) b->TakeLog();
  OpenLoop loop(rate, duration, 7);
  PartialRun run;
  run.load = Metered(cpu, [&] {
    loop.Run([&](CallRecord& record, std::function<void()> done) {
      StartFetchAll(stub, request, deadline, /*want_trace=*/true, record,
                    std::move(done));
    });
  });
  WaitIdle(frontend, absl::Seconds(10));
  for (auto& b : backends) WaitIdle(*b, absl::Seconds(10));
  absl::SleepFor(absl::Milliseconds(100));  // The last log lines.
  const auto frontend_log = ParseCallLog(frontend.TakeLog());
  std::map<std::string, std::vector<LoggedCall>> backend_log;
  for (auto& b : backends) {
    for (auto& [id, calls] : ParseCallLog(b->TakeLog())) {
      auto& all = backend_log[id];
      all.insert(all.end(), calls.begin(), calls.end());
    }
  }
  const auto& records = loop.records();
  run.offered = loop.sent_rate();
  run.calls = static_cast<int>(records.size());
  run.codes = CodeCounts(records);
  Distribution lateness;
  std::vector<std::pair<absl::Duration, std::string>> late_lines;
  std::vector<absl::Time> late_deadlines;
  for (const CallRecord& r : records) {
    lateness.Add(r.Lateness());
    const bool de = r.code == grpc::StatusCode::DEADLINE_EXCEEDED;
    run.deadline_exceeded += de;
    run.client_timer += de && !r.trace.has_value();
    const bool late = r.answered > r.deadline || de;
    run.late += late;
    if (late) late_deadlines.push_back(r.deadline);
    run.ok_as_expected += r.code == grpc::StatusCode::OK && r.panels_ok == 2 &&
                          r.panels_deadline == 2;
    if (!logged) continue;
    const PartialTimes t = TimesOf(r, reserve, frontend_log, backend_log);
    if (!t.logged) continue;
    run.skew.Add(t.skew);
    run.inflation.Add(t.skew - t.to_handler);
    run.to_handler.Add(t.to_handler);
    run.conclude_lag.Add(t.conclude_lag);
    Add(run.transit, t.transit);
    Add(run.backend_skew, t.backend_skew);
    Add(run.backend_stop, t.backend_stop_latency);
    Add(run.panel_end_lag, t.panel_end_lag);
    run.by_frontend_timer += t.panels_by_frontend_timer > 0;
    if (!late) continue;
    ++run.late_logged;
    run.late_skew.Add(t.skew);
    run.late_inflation.Add(t.skew - t.to_handler);
    run.late_to_handler.Add(t.to_handler);
    run.late_conclude_lag.Add(t.conclude_lag);
    Add(run.late_backend_skew, t.backend_skew);
    Add(run.late_backend_stop, t.backend_stop_latency);
    Add(run.late_panel_end_lag, t.panel_end_lag);
    run.late_by_frontend_timer += t.panels_by_frontend_timer > 0;
    const auto ms = [](absl::Duration d) {
      return absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(d));
    };
    late_lines.emplace_back(
        t.frontend_end_after_deadline,
        absl::StrCat(
            CodeName(r.code), r.trace.has_value() ? "" : " (client's timer)",
            ": frontend answered ", ms(t.frontend_end_after_deadline),
            " ms after the client's deadline = skew ", ms(t.skew),
            " - reserve ", ms(reserve), " + answer after forward deadline ",
            ms(t.conclude_lag), " (handler ran ", ms(t.to_handler),
            " ms after the send",
            t.backend_skew.has_value()
                ? absl::StrCat("; backend deadline ", ms(*t.backend_skew),
                               " ms after the forward deadline, stop latency ",
                               ms(*t.backend_stop_latency))
                : "",
            ")"));
  }
  std::sort(late_deadlines.begin(), late_deadlines.end());
  for (size_t i = 0, size = 0; i < late_deadlines.size(); ++i) {
    if (i == 0 ||
        late_deadlines[i] - late_deadlines[i - 1] > absl::Milliseconds(20)) {
      ++run.bursts;
      size = 0;
    }
    run.largest_burst = std::max(run.largest_burst, static_cast<int>(++size));
  }
  std::sort(late_lines.begin(), late_lines.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < late_lines.size() && i < 3; ++i) {
    run.worst.push_back(late_lines[i].second);
  }
  run.lateness = lateness.Summarize();
  return run;
}

}  // namespace deadline::bench

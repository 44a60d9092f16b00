#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"
#include "common/time_util.h"
#include "server/deadline/budget.h"

namespace deadline::bench {
namespace {

absl::Duration Dur(const google::protobuf::Duration& proto) {
  return FromProtoDuration(proto, "").value_or(absl::ZeroDuration());
}

// What each hop gave up of one client's budget, over `calls` calls with
// `timeout`: how much less than the time truly left until the client's
// deadline a hop believed it had when the call reached it.
struct Losses {
  Distribution at_frontend;  // Seen by the frontend (the wire, rounding).
  Distribution at_backend;   // Seen by the backend: both hops together.
  Distribution heard_early;  // DEADLINE_EXCEEDED this long before it.
};

Losses Measure(bool absolute, absl::Duration timeout, int calls,
               int late_calls) {
  BackendOptions backend_options = QuietBackend();
  FrontendOptions frontend_options = QuietFrontend();
  backend_options.budget.absolute_deadline = absolute;
  frontend_options.budget.absolute_deadline = absolute;
  Servers servers(backend_options, frontend_options);
  Losses losses{Distribution("frontend"), Distribution("backend"),
                Distribution("heard early")};
  for (int i = 0; i < calls; ++i) {
    const absl::Time deadline = absl::Now() + timeout;
    FetchCall call(servers.frontend(), FetchOf(Work(0, absl::ZeroDuration())),
                   deadline);
    const auto& outcome = call.Wait();
    if (!outcome.trace.has_value() || outcome.trace->hops_size() < 2) continue;
    for (int hop = 0; hop < 2; ++hop) {
      const auto& record = outcome.trace->hops(hop);
      const absl::Duration left = deadline - FromProtoTime(record.arrived_at());
      (hop == 0 ? losses.at_frontend : losses.at_backend)
          .Add(left - Dur(record.budget_at_arrival()));
    }
  }
  // Work that cannot fit: how early the client hears that it did not.
  for (int i = 0; i < late_calls; ++i) {
    const absl::Time deadline = absl::Now() + timeout;
    FetchCall call(servers.frontend(), FetchOf(Work(1, timeout * 2)), deadline);
    const auto& outcome = call.Wait();
    if (outcome.status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      continue;
    }
    losses.heard_early.Add(deadline - (outcome.start + outcome.elapsed));
  }
  return losses;
}

}  // namespace

Section BudgetAccuracy(const Config& config) {
  Section section{"budget_accuracy",
                  "Budget given up at each hop, before and after the "
                  "absolute deadline"};
  const absl::Duration reserve = QuietFrontend().budget.reserve;
  const absl::Duration allowed = reserve + absl::Milliseconds(2);
  const int calls = config.quick ? 10 : 200;
  const int late_calls = config.quick ? 2 : 10;
  for (const absl::Duration timeout :
       {absl::Milliseconds(300), absl::Seconds(10)}) {
    for (const bool absolute : {false, true}) {
      const Losses losses =
          Measure(absolute, timeout, calls,
                  timeout < absl::Seconds(1) ? late_calls : 0);
      const std::string what = absl::StrCat(
          FormatBudget(timeout), " call, ",
          absolute ? "after (deadline-at)" : "before (grpc-timeout alone)");
      const std::string key =
          absl::StrCat(absolute ? "after_" : "before_",
                       absl::ToInt64Milliseconds(timeout), "ms");
      const Summary frontend = losses.at_frontend.Summarize();
      const Summary backend = losses.at_backend.Summarize();
      const double given_up_at_frontend = backend.p50 - frontend.p50;
      section.rows.push_back(
          Info(absl::StrCat(what, ": lost on the way to the frontend"),
               Spread(frontend)));
      const std::string given_up = absl::StrFormat(
          "%s (the backend saw %s less than was left: p99 %s)",
          Ms(given_up_at_frontend), Ms(backend.p50), Ms(backend.p99));
      if (absolute && timeout < absl::Seconds(1)) {
        section.rows.push_back(
            {absl::StrCat(what, ": given up at the frontend, p50"), given_up,
             absl::StrCat("<= the reserve + 2ms (", FormatBudget(allowed), ")"),
             given_up_at_frontend <= absl::ToDoubleMicroseconds(allowed)
                 ? Verdict::kMet
                 : Verdict::kMissed});
      } else {
        section.rows.push_back(Info(
            absl::StrCat(what, ": given up at the frontend, p50"), given_up));
      }
      if (!losses.heard_early.empty()) {
        section.rows.push_back(
            Info(absl::StrCat(what,
                              ": DEADLINE_EXCEEDED heard before the "
                              "deadline by"),
                 Spread(losses.heard_early.Summarize())));
      }
      AddFigures(section, key + ".frontend", frontend);
      AddFigures(section, key + ".backend", backend);
      section.figures[key + ".given_up_at_frontend_us"] = given_up_at_frontend;
    }
  }
  section.analysis = absl::StrFormat(
      "One client calls the frontend and the frontend the backend, one call "
      "at a time, with nothing else running: what is lost is the planning "
      "alone. A hop's loss is the time truly left until the client's "
      "deadline when the call reached it, minus the budget the hop "
      "believed it had (negative: it believed it had more). Before, gRPC's "
      "relative timeout is all a hop has: it sees up to ~1 ms more than was "
      "sent (the wire rounding), not the time in transit, and the frontend "
      "keeps back 3%% of what reached it besides its %s reserve, because "
      "gRPC 1.51's HPACK encoder may send an earlier, longer timeout in "
      "place of a call's own. After, each hop plans from the client's own "
      "deadline plus the allowed clock skew (%s, which each hop may add), "
      "so the frontend gives up its reserve less the skew whatever the "
      "budget, and the client hears DEADLINE_EXCEEDED the reserve before "
      "its deadline, not 3%% of it.",
      FormatBudget(reserve), FormatBudget(BudgetOptions().clock_skew));
  return section;
}

}  // namespace deadline::bench

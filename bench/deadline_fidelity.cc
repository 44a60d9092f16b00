#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"

namespace deadline::bench {

Section DeadlineFidelity(const Config& config) {
  Section section{"deadline_fidelity",
                  "Deadline fidelity (when the client sees "
                  "DEADLINE_EXCEEDED)"};
  // The client's own timer, alone: through a frontend with propagation off,
  // nothing answers before the client gives up.
  FrontendOptions off = QuietFrontend();
  off.propagation = Propagation::kNone;
  off.budget.reserve = absl::ZeroDuration();  // And no fail-fast answer.
  off.budget.min_budget = absl::ZeroDuration();
  Servers silent(QuietBackend(), off);
  const int calls = config.quick ? 5 : 300;
  const absl::Duration timeout = absl::Milliseconds(20);
  Distribution late("client sees DEADLINE_EXCEEDED after its deadline");
  int early = 0;
  int wrong_code = 0;
  for (int i = 0; i < calls; ++i) {
    const absl::Time deadline = absl::Now() + timeout;
    FetchCall call(silent.frontend(),
                   FetchOf(Work(100, absl::Milliseconds(10))), deadline);
    const auto& outcome = call.Wait();
    const absl::Duration lateness = outcome.start + outcome.elapsed - deadline;
    if (lateness < absl::ZeroDuration()) ++early;
    if (outcome.status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      ++wrong_code;
    }
    late.Add(lateness);
  }
  // Through the chain with the default reserves: answered early, on
  // purpose, with the explanation.
  Servers servers(QuietBackend(), QuietFrontend());
  Distribution ahead("chain answers before the client's deadline by");
  for (int i = 0; i < calls; ++i) {
    const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
    FetchCall call(servers.frontend(),
                   FetchOf(Work(100, absl::Milliseconds(10))), deadline);
    const auto& outcome = call.Wait();
    ahead.Add(deadline - (outcome.start + outcome.elapsed));
  }
  const Summary s = late.Summarize();
  section.rows = {
      AtMost("answers before the deadline", early, 0,
             absl::StrCat(early, " of ", calls), "never"),
      AtMost("lateness, p50", s.p50, 1500, Ms(s.p50), "<= 1.5 ms"),
      AtMost("lateness, p99", s.p99, 3000, Ms(s.p99), "<= 3 ms"),
      Info("lateness", Spread(s)),
      Info("other codes than DEADLINE_EXCEEDED", absl::StrCat(wrong_code)),
      Info("chain (default reserves): answered ahead of the deadline by",
           Spread(ahead.Summarize())),
  };
  AddFigures(section, "lateness", s);
  AddFigures(section, "chain_ahead", ahead.Summarize());
  section.figures["early"] = early;
  section.distributions = {late};
  section.analysis =
      "The client's own timer, measured where nothing answers first (a "
      "frontend with propagation off, 20 ms deadline, 1 s of work): gRPC "
      "core keeps time in whole milliseconds and rounds deadlines up, so "
      "the timer fires up to ~1 ms late, plus the wake-up of the thread "
      "that runs the callback. Through the chain the frontend's 10 ms "
      "reserve makes the answer come early by design, with its "
      "explanation.";
  return section;
}

}  // namespace deadline::bench

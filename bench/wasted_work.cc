#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"
#include "common/time_util.h"

namespace deadline::bench {

Section WastedWork(const Config& config) {
  Section section{"wasted_work",
                  "Wasted work (50 ms deadline on 200 ms of work)"};
  const int calls = config.quick ? 2 : 20;
  const deadline::v1::WorkRequest work = Work(20, absl::Milliseconds(10));
  for (bool propagate : {true, false}) {
    FrontendOptions options = QuietFrontend();
    options.propagation =
        propagate ? Propagation::kDeadlineAndCancellation : Propagation::kNone;
    Servers servers(QuietBackend(), options);
    double steps = 0;
    Distribution after("backend work after the client gave up");
    for (int i = 0; i < calls; ++i) {
      const std::string id = absl::StrCat("waste-", propagate, "-", i);
      const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
      FetchCall call(servers.frontend(), FetchOf(work), deadline, id);
      call.Wait();
      const auto hop = servers.BackendHop(id, absl::Seconds(5));
      if (!hop.has_value()) continue;
      steps += hop->steps_done();
      after.Add(std::max(FromProtoTime(hop->finished_at()) - deadline,
                         absl::ZeroDuration()));
    }
    const double done = steps / calls / work.steps();
    const std::string name = propagate ? "propagation on" : "propagation off";
    const Summary a = after.Summarize();
    if (propagate) {
      section.rows.push_back(AtLeast(absl::StrCat(name, ": work saved"),
                                     1 - done, 0.70, Pct(1 - done),
                                     ">= 70% (75% is the ceiling)"));
    } else {
      section.rows.push_back(
          Info(absl::StrCat(name, ": work saved"), Pct(1 - done)));
    }
    section.rows.push_back(Info(
        absl::StrCat(name, ": backend work after the client gave up, mean"),
        Ms(a.mean)));
    section.figures[absl::StrCat(propagate ? "on" : "off", ".work_done")] =
        done;
    section.figures[absl::StrCat(propagate ? "on" : "off",
                                 ".after_deadline_mean_us")] = a.mean;
  }
  section.analysis =
      "Work saved is the share of the 200 ms the backend did not do. With "
      "propagation the backend stops at its deadline, which the reserves put "
      "12 ms before the client's: slightly more than the 75% that stopping "
      "exactly at the client's deadline would save. Without propagation the "
      "backend, holding a fresh context, does all of it, ~150 ms of it for "
      "nobody.";
  return section;
}

}  // namespace deadline::bench

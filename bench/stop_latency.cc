#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"
#include "common/time_util.h"

namespace deadline::bench {

Section StopLatency(const Config& config) {
  Section section{"stop_latency",
                  "Stop latency (client deadline or cancel to the backend "
                  "loop's exit, through the chain)"};
  // No reserves anywhere: the backend's deadline is the client's, so this
  // measures how fast the stop travels, not the margins.
  BackendOptions exact = QuietBackend();
  exact.budget.reserve = absl::ZeroDuration();
  FrontendOptions no_reserve = QuietFrontend();
  no_reserve.budget.reserve = absl::ZeroDuration();
  Servers servers(exact, no_reserve);
  const int calls = config.quick ? 3 : 300;
  int request = 0;

  const auto measure = [&](bool spin, bool cancel) {
    Distribution d(absl::StrCat(cancel ? "cancel" : "deadline", ", ",
                                spin ? "CPU-bound" : "sleep-like"));
    for (int i = 0; i < calls; ++i) {
      const std::string id = absl::StrCat("stop-", request++);
      const deadline::v1::WorkRequest work =
          Work(100, absl::Milliseconds(10), spin);
      absl::Time trigger;
      if (cancel) {
        FetchCall call(servers.frontend(), FetchOf(work),
                       absl::InfiniteFuture(), id);
        absl::SleepFor(absl::Milliseconds(15));
        trigger = absl::Now();
        call.Cancel();
        call.Wait();
      } else {
        trigger = absl::Now() + absl::Milliseconds(30);
        FetchCall call(servers.frontend(), FetchOf(work), trigger, id);
        call.Wait();
      }
      const auto hop = servers.BackendHop(id, absl::Seconds(5));
      if (hop.has_value()) d.Add(FromProtoTime(hop->finished_at()) - trigger);
    }
    return d;
  };
  const Distribution deadline_sleep = measure(false, false);
  const Distribution cancel_sleep = measure(false, true);
  const Distribution deadline_spin = measure(true, false);
  const Distribution cancel_spin = measure(true, true);
  for (const Distribution* d : {&deadline_sleep, &cancel_sleep}) {
    const Summary s = d->Summarize();
    section.rows.push_back(AtMost(absl::StrCat(d->name(), ", p50"), s.p50, 2000,
                                  Ms(s.p50), "<= 2 ms"));
    section.rows.push_back(AtMost(absl::StrCat(d->name(), ", p99"), s.p99, 5000,
                                  Ms(s.p99), "<= 5 ms"));
  }
  for (const Distribution* d : {&deadline_spin, &cancel_spin}) {
    const Summary s = d->Summarize();
    section.rows.push_back(Info(absl::StrCat(d->name(), ", p50"), Ms(s.p50)));
    section.rows.push_back(AtMost(absl::StrCat(d->name(), ", p99"), s.p99,
                                  10000, Ms(s.p99), "<= 10 ms"));
  }
  for (const Distribution* d :
       {&deadline_sleep, &cancel_sleep, &deadline_spin, &cancel_spin}) {
    section.rows.push_back(
        Info(absl::StrCat(d->name()), Spread(d->Summarize())));
    AddFigures(section, d->name(), d->Summarize());
  }
  section.distributions = {deadline_sleep, cancel_sleep, deadline_spin,
                           cancel_spin};
  section.analysis =
      "The deadline case includes gRPC's rounding of the timeout it sends "
      "(whole milliseconds below 1 s), so the backend's deadline is up to "
      "~1 ms later than the client's; a sleeping call's timer fires at its "
      "stop time. A cancel crosses two hops as RST_STREAMs; the callback "
      "backend learns of it in OnCancel, which disarms a sleeping call's "
      "timer and answers at once. A CPU-bound loop asks IsCancelled() (a "
      "flag in the callback API) every 0.5 ms, so it stops within that, "
      "plus the wait for a core: the spinning worker and gRPC's threads "
      "share two.";
  return section;
}

}  // namespace deadline::bench

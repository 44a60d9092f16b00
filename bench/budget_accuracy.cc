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

}  // namespace

Section BudgetAccuracy(const Config& config) {
  Section section{"budget_accuracy",
                  "6. Budget accuracy (backend's budget_at_arrival vs the "
                  "client's deadline minus elapsed, arrival slack and "
                  "reserve)"};
  Servers servers(QuietBackend(), QuietFrontend());
  const int calls = config.quick ? 10 : 500;
  const absl::Duration reserve = QuietFrontend().budget.reserve;
  Distribution error("budget_at_arrival - expected");
  for (int i = 0; i < calls; ++i) {
    const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
    FetchCall call(servers.frontend(), FetchOf(Work(0, absl::ZeroDuration())),
                   deadline);
    const auto& outcome = call.Wait();
    if (!outcome.trace.has_value() || outcome.trace->hops_size() < 2) continue;
    const auto& frontend = outcome.trace->hops(0);
    const auto& backend = outcome.trace->hops(1);
    // What the frontend meant to forward, counted from the backend's
    // arrival: it kept back the arrival slack of what reached it (the wire
    // rounding and 3% for gRPC's HPACK timeout reuse) and its reserve.
    const absl::Duration expected =
        deadline - FromProtoTime(backend.arrived_at()) -
        ArrivalSlack(Dur(frontend.budget_at_arrival())) - reserve;
    error.Add(Dur(backend.budget_at_arrival()) - expected);
  }
  const Summary s = error.Summarize();
  section.rows = {
      {"error, p50", Ms(s.p50), "within [-0.1, +2] ms",
       s.p50 >= -100 && s.p50 <= 2000 ? Verdict::kMet : Verdict::kMissed},
      Info("error", Spread(s)),
  };
  AddFigures(section, "error", s);
  section.distributions = {error};
  section.analysis =
      "gRPC sends a deadline as a relative timeout rounded up to the "
      "millisecond (10 ms units from 1 to 10 s) and each receiver adds it "
      "to its own clock on arrival, so a hop sees up to ~1 ms more than was "
      "forwarded, and the time the request spent in transit is not "
      "counted. The frontend keeps back, besides its reserve, the arrival "
      "slack of its own budget (3% of it, ~15 ms of 500 ms, because gRPC "
      "1.51's HPACK encoder may send an earlier timeout up to 3% longer in "
      "place of a call's own): by design, and taken off the expectation "
      "here. A p50 near 0 says the frontend forwards exactly what it "
      "planned.";
  return section;
}

}  // namespace deadline::bench

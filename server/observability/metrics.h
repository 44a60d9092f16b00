#ifndef DEADLINE_SERVER_OBSERVABILITY_METRICS_H_
#define DEADLINE_SERVER_OBSERVABILITY_METRICS_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/observability/call_stats.h"
#include "server/observability/hop_record.h"

namespace deadline {

// One server's calls in Prometheus's data model: the view a dashboard and
// alerting rules read, beside the Stats service's view of the same calls.
// Both come from one source: every call ends in HopRecord::End(), which
// counts it in the sink's CallStats and tells this observer, from the same
// HopEnding; the gauges are read at scrape time from the same snapshot that
// Stats serves.
//
// Every series has the label hop="<hop>" (the server's role in the chain,
// which stays the same whatever the scrape job is called); per-call series
// also have method="<method>". Units are seconds; counters end in _total.
//
//   deadline_calls_total{code}              calls ended, by the gRPC status
//       code this hop answered with ("OK", "DEADLINE_EXCEEDED", ...).
//   deadline_budget_at_arrival_seconds      histogram: time left until the
//       call's deadline when it arrived here (a deadline already past: 0).
//       Calls without a deadline are not in it: see the next one. Calls
//       refused before their deadline was read (at the frontend: requests
//       that do not parse or are invalid, and calls beyond
//       --max_in_flight) are in neither.
//   deadline_calls_without_deadline_total   calls that arrived without one.
//   deadline_stop_latency_seconds           histogram, for calls stopped by
//       their deadline or their caller (answered DEADLINE_EXCEEDED or
//       CANCELLED after they were admitted, shed calls included): the time
//       from the moment the call should have stopped (its deadline less this
//       hop's reserve, or the caller's going as this hop saw it) to the
//       moment this hop stopped working on it.
//   deadline_steps_done_total               work steps done (the frontend:
//       the steps its backends report, so sum one hop, never both).
//   deadline_steps_saved_total              steps requested but not done by
//       calls that ended OK (a partial fan-out), DEADLINE_EXCEEDED, CANCELLED
//       or refused for too little budget: work saved by stopping early.
//   deadline_wasted_steps_total             steps done after this hop knew
//       its caller had gone: for nobody. This hop knows when it learned its
//       caller had gone, and how many steps were done, but not when each
//       was: steps are taken as evenly spread over the call's time here
//       (the backend's steps follow a fixed schedule), so a call whose
//       caller left at `noticed` adds
//         floor(steps_done * (finished - noticed) / (finished - arrived)).
//       At the frontend with --propagation=off, this is the work its
//       backends finish for callers that left; with propagation it stays 0,
//       as the backends stop within a fraction of a step. At the backend it
//       stays 0 too: its work stops when it learns of the cancellation (a
//       frontend that does not propagate leaves it nothing to learn).
//   deadline_calls_shed_total               calls dropped from the worker
//       queue, without any work, because their caller had gone or their
//       deadline had passed (also in calls_total as CANCELLED or
//       DEADLINE_EXCEEDED).
//   deadline_calls_refused_total{reason}    calls refused at once by this
//       hop, without any work or call onward: reason="budget" (too little
//       budget left: fail fast, answered DEADLINE_EXCEEDED), "overloaded"
//       (a full queue or --max_in_flight: RESOURCE_EXHAUSTED), "invalid"
//       (INVALID_ARGUMENT). Refusals by a hop further on are not here.
//   deadline_hedges_total                   hedged calls: second backend
//       calls sent for a panel whose first was slow (frontend, with
//       --hedge_after).
//   deadline_retried_calls_total            calls that arrived as a retry
//       (grpc-previous-rpc-attempts above 0): the frontend's --retries,
//       counted where they land, since gRPC retries inside the channel,
//       below the application that sent them.
//   deadline_arrival_delay_seconds          histogram: from the caller's
//       send (deadline-sent-at) to this hop's reading the call: time on the
//       wire and waiting to be read, which grpc-timeout cannot see. Calls
//       whose caller sent no (trusted) deadline-sent-at are not in it.
//   deadline_calls_arrived_late_total       calls whose caller's absolute
//       deadline (deadline-at) had passed when they arrived: refused at
//       once (also in calls_refused_total{reason="budget"}).
//   deadline_deadline_at_ignored_total      calls whose deadline-at was not
//       trusted (BudgetPolicy::Plan): planned from grpc-timeout alone.
//   deadline_calls_in_flight                gauge: calls started, not ended.
//   deadline_queue_depth                    gauge: calls waiting for a worker
//       (only for servers with a queue: the callback backend).
//
//
// Thread-safe: OnCallEnd() and collection may run on any threads at once.
// Recording a call takes a few atomic additions and two uncontended locks
// (prometheus-cpp's histograms lock); it allocates only for a method or
// code first seen.
class ServerMetrics final : public HopObserver {
 public:
  // Upper bounds of the histograms' buckets, in seconds (+Inf is added):
  // budgets from a millisecond to minutes, stop latencies from tens of
  // microseconds to seconds.
  static const std::vector<double>& BudgetBuckets();
  static const std::vector<double>& StopLatencyBuckets();

  // `hop` labels every series ("frontend", "backend"). The series of
  // `methods`, and of the codes OK, CANCELLED and DEADLINE_EXCEEDED, exist
  // from the start and read 0: a series that first appears at 1 hides its
  // first increment from rate(). Other methods and codes are counted too,
  // their series made on first use. `queue`: the server has a worker queue
  // (deadline_queue_depth is exported).
  ServerMetrics(absl::string_view hop, const std::vector<std::string>& methods,
                bool queue = false);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;
  ~ServerMetrics() override;

  // Where the gauges are read when the metrics are collected: the server's
  // Stats snapshot. Call before the metrics are served; `snapshot` must stay
  // valid while they are. Without it the gauges are not exported.
  void ReadGaugesFrom(std::function<StatsSnapshot()> snapshot);

  // HopObserver: counts one ended call.
  void OnCallEnd(const EndedCall& call) override;

  // Every family, gauges included, for an Exposer (which keeps a weak_ptr:
  // it stops collecting when this object is gone).
  std::shared_ptr<prometheus::Collectable> collectable() const;
  // The same in Prometheus's text exposition format.
  std::string Text() const;

 private:
  class View;
  struct MethodSeries;
  static constexpr int kCodes = 17;  // absl::StatusCode 0 (OK) to 16.

  MethodSeries& SeriesFor(absl::string_view method);
  std::unique_ptr<MethodSeries> NewSeries(absl::string_view method);
  prometheus::Counter& CallsFor(MethodSeries& series, absl::StatusCode code);

  const std::string hop_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<View> view_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Counter>& without_deadline_;
  prometheus::Family<prometheus::Histogram>& budget_;
  prometheus::Family<prometheus::Histogram>& stop_latency_;
  prometheus::Family<prometheus::Counter>& steps_done_;
  prometheus::Family<prometheus::Counter>& steps_saved_;
  prometheus::Family<prometheus::Counter>& wasted_steps_;
  prometheus::Family<prometheus::Counter>& shed_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Family<prometheus::Counter>& hedges_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Histogram>& arrival_delay_;
  prometheus::Family<prometheus::Counter>& arrived_late_;
  prometheus::Family<prometheus::Counter>& deadline_at_ignored_;
  // The methods given at construction, read without a lock; others are
  // added under mu_.
  std::vector<std::unique_ptr<MethodSeries>> methods_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<MethodSeries>> other_methods_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_OBSERVABILITY_METRICS_H_

#include "server/observability/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace deadline {
namespace {

using prometheus::Counter;
using prometheus::Histogram;

constexpr absl::StatusCode kCodesMadeAtStart[] = {
    absl::StatusCode::kOk, absl::StatusCode::kCancelled,
    absl::StatusCode::kDeadlineExceeded};

// deadline_calls_refused_total's reasons, in RefusalOf()'s order.
constexpr const char* kReasons[] = {"budget", "overloaded", "invalid"};

// The index in kReasons of a call this hop refused at once, or -1. A hop
// that called nobody (its trace holds itself only) and did no work refused
// the call itself; the same codes from a hop further on are not refusals
// here.
int RefusalOf(const EndedCall& call) {
  if (call.trace.hops_size() > 1 || call.ending.steps_done > 0) return -1;
  switch (call.ending.outcome) {
    case Outcome::kRejected:
      return 0;
    case Outcome::kOverloaded:
      return 1;
    case Outcome::kInvalid:
      return 2;
    default:
      return -1;
  }
}

// Steps done after `noticed`, taking them as evenly spread over
// [arrived, finished]: see deadline_wasted_steps_total.
int64_t StepsAfter(absl::Time noticed, const EndedCall& call) {
  const int64_t done = call.ending.steps_done;
  const absl::Duration whole = call.finished - call.arrived;
  if (done <= 0 || whole <= absl::ZeroDuration()) return 0;
  const absl::Duration after =
      std::clamp(call.finished - noticed, absl::ZeroDuration(), whole);
  const double share = absl::FDivDuration(after, whole);
  return std::clamp<int64_t>(
      static_cast<int64_t>(std::floor(static_cast<double>(done) * share)), 0,
      done);
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help,
                                     const std::string& hop, double value) {
  prometheus::ClientMetric metric;
  metric.label.push_back({"hop", hop});
  metric.gauge.value = value;
  return {std::move(name),
          std::move(help),
          prometheus::MetricType::Gauge,
          {std::move(metric)}};
}

}  // namespace

const std::vector<double>& ServerMetrics::BudgetBuckets() {
  static const auto* const buckets = new std::vector<double>{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
      1,     2.5,    5,     10,   30,    60,   120, 300};
  return *buckets;
}

const std::vector<double>& ServerMetrics::StopLatencyBuckets() {
  static const auto* const buckets = new std::vector<double>{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return *buckets;
}

// The series of one method, made once: recording a call then only looks
// them up here, never in a Family (which locks and hashes labels).
struct ServerMetrics::MethodSeries {
  std::string method;
  // Made on first use, by code (Family::Add returns the same counter to
  // every thread that asks for the same labels).
  std::array<std::atomic<Counter*>, kCodes> calls{};
  Counter* without_deadline;
  Histogram* budget;
  Histogram* stop_latency;
  Counter* steps_done;
  Counter* steps_saved;
  Counter* wasted_steps;
  Counter* shed;
  std::array<Counter*, std::size(kReasons)> refused;
  Counter* hedges;
  Counter* retries;
  Histogram* arrival_delay;
  Counter* arrived_late;
  Counter* deadline_at_ignored;
};

// What is served: the registry's families, and the gauges read now.
class ServerMetrics::View final : public prometheus::Collectable {
 public:
  View(std::string hop, std::shared_ptr<prometheus::Registry> registry,
       bool queue)
      : hop_(std::move(hop)), registry_(std::move(registry)), queue_(queue) {}

  void ReadGaugesFrom(std::function<StatsSnapshot()> snapshot) {
    snapshot_ = std::move(snapshot);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families = registry_->Collect();
    if (!snapshot_) return families;
    const StatsSnapshot stats = snapshot_();
    families.push_back(
        GaugeFamily("deadline_calls_in_flight",
                    "Calls this hop has started and not yet ended.", hop_,
                    static_cast<double>(stats.in_flight)));
    if (queue_) {
      families.push_back(GaugeFamily(
          "deadline_queue_depth",
          "Calls waiting for a worker (CPU-bound work of the callback "
          "backend).",
          hop_, static_cast<double>(stats.queue_depth)));
    }
    return families;
  }

 private:
  const std::string hop_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const bool queue_;
  std::function<StatsSnapshot()> snapshot_;
};

ServerMetrics::ServerMetrics(absl::string_view hop,
                             const std::vector<std::string>& methods,
                             bool queue)
    : hop_(hop),
      registry_(std::make_shared<prometheus::Registry>()),
      view_(std::make_shared<View>(hop_, registry_, queue)),
      calls_(prometheus::BuildCounter()
                 .Name("deadline_calls_total")
                 .Help("Calls ended at this hop, by the gRPC status code it "
                       "answered with.")
                 .Labels({{"hop", hop_}})
                 .Register(*registry_)),
      without_deadline_(
          prometheus::BuildCounter()
              .Name("deadline_calls_without_deadline_total")
              .Help("Calls that arrived without a deadline (not in "
                    "deadline_budget_at_arrival_seconds).")
              .Labels({{"hop", hop_}})
              .Register(*registry_)),
      budget_(prometheus::BuildHistogram()
                  .Name("deadline_budget_at_arrival_seconds")
                  .Help("Time left until the call's deadline when it arrived "
                        "at this hop; 0 when already past.")
                  .Labels({{"hop", hop_}})
                  .Register(*registry_)),
      stop_latency_(prometheus::BuildHistogram()
                        .Name("deadline_stop_latency_seconds")
                        .Help("For calls stopped by their deadline or their "
                              "caller: from the moment the call should have "
                              "stopped to the moment this hop stopped it.")
                        .Labels({{"hop", hop_}})
                        .Register(*registry_)),
      steps_done_(prometheus::BuildCounter()
                      .Name("deadline_steps_done_total")
                      .Help("Work steps done (at the frontend: as its "
                            "backends report them).")
                      .Labels({{"hop", hop_}})
                      .Register(*registry_)),
      steps_saved_(prometheus::BuildCounter()
                       .Name("deadline_steps_saved_total")
                       .Help("Steps requested but not done by calls that "
                             "stopped early or were refused for too little "
                             "budget.")
                       .Labels({{"hop", hop_}})
                       .Register(*registry_)),
      wasted_steps_(prometheus::BuildCounter()
                        .Name("deadline_wasted_steps_total")
                        .Help("Steps done after this hop knew its caller had "
                              "gone (steps taken as evenly spread over the "
                              "call).")
                        .Labels({{"hop", hop_}})
                        .Register(*registry_)),
      shed_(prometheus::BuildCounter()
                .Name("deadline_calls_shed_total")
                .Help("Calls dropped from the worker queue without any work "
                      "because their caller had gone or their deadline had "
                      "passed.")
                .Labels({{"hop", hop_}})
                .Register(*registry_)),
      refused_(prometheus::BuildCounter()
                   .Name("deadline_calls_refused_total")
                   .Help("Calls this hop refused at once, without work: too "
                         "little budget, overloaded, or invalid.")
                   .Labels({{"hop", hop_}})
                   .Register(*registry_)),
      hedges_(prometheus::BuildCounter()
                  .Name("deadline_hedges_total")
                  .Help("Second backend calls sent for a panel whose first "
                        "call was slow (hedging).")
                  .Labels({{"hop", hop_}})
                  .Register(*registry_)),
      retries_(prometheus::BuildCounter()
                   .Name("deadline_retried_calls_total")
                   .Help("Calls that arrived as a retry of an earlier attempt "
                         "(grpc-previous-rpc-attempts), sent by gRPC's retry "
                         "policy.")
                   .Labels({{"hop", hop_}})
                   .Register(*registry_)),
      arrival_delay_(prometheus::BuildHistogram()
                         .Name("deadline_arrival_delay_seconds")
                         .Help("From the caller's send (deadline-sent-at) to "
                               "this hop's reading the call: on the wire and "
                               "waiting to be read.")
                         .Labels({{"hop", hop_}})
                         .Register(*registry_)),
      arrived_late_(prometheus::BuildCounter()
                        .Name("deadline_calls_arrived_late_total")
                        .Help("Calls whose caller's absolute deadline had "
                              "passed when they arrived: refused at once.")
                        .Labels({{"hop", hop_}})
                        .Register(*registry_)),
      deadline_at_ignored_(
          prometheus::BuildCounter()
              .Name("deadline_deadline_at_ignored_total")
              .Help("Calls whose deadline-at was not to be trusted: planned "
                    "from grpc-timeout alone.")
              .Labels({{"hop", hop_}})
              .Register(*registry_)) {
  for (const std::string& method : methods) {
    methods_.push_back(NewSeries(method));
  }
}

ServerMetrics::~ServerMetrics() = default;

std::unique_ptr<ServerMetrics::MethodSeries> ServerMetrics::NewSeries(
    absl::string_view method) {
  auto series = std::make_unique<MethodSeries>();
  series->method = std::string(method);
  const prometheus::Labels labels = {{"method", series->method}};
  series->without_deadline = &without_deadline_.Add(labels);
  series->budget = &budget_.Add(labels, BudgetBuckets());
  series->stop_latency = &stop_latency_.Add(labels, StopLatencyBuckets());
  series->steps_done = &steps_done_.Add(labels);
  series->steps_saved = &steps_saved_.Add(labels);
  series->wasted_steps = &wasted_steps_.Add(labels);
  series->shed = &shed_.Add(labels);
  series->hedges = &hedges_.Add(labels);
  series->retries = &retries_.Add(labels);
  series->arrival_delay = &arrival_delay_.Add(labels, StopLatencyBuckets());
  series->arrived_late = &arrived_late_.Add(labels);
  series->deadline_at_ignored = &deadline_at_ignored_.Add(labels);
  for (size_t i = 0; i < std::size(kReasons); ++i) {
    series->refused[i] =
        &refused_.Add({{"method", series->method}, {"reason", kReasons[i]}});
  }
  for (absl::StatusCode code : kCodesMadeAtStart) CallsFor(*series, code);
  return series;
}

ServerMetrics::MethodSeries& ServerMetrics::SeriesFor(
    absl::string_view method) {
  for (const std::unique_ptr<MethodSeries>& series : methods_) {
    if (series->method == method) return *series;
  }
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<MethodSeries>& series : other_methods_) {
    if (series->method == method) return *series;
  }
  other_methods_.push_back(NewSeries(method));
  return *other_methods_.back();
}

Counter& ServerMetrics::CallsFor(MethodSeries& series, absl::StatusCode code) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= kCodes) {
    index = static_cast<int>(absl::StatusCode::kUnknown);
  }
  std::atomic<Counter*>& slot = series.calls[index];
  Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &calls_.Add(
        {{"method", series.method},
         {"code",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(index))}});
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

void ServerMetrics::ReadGaugesFrom(std::function<StatsSnapshot()> snapshot) {
  view_->ReadGaugesFrom(std::move(snapshot));
}

void ServerMetrics::OnCallEnd(const EndedCall& call) {
  MethodSeries& series = SeriesFor(call.method);
  const HopEnding& ending = call.ending;
  CallsFor(series, ending.status.code()).Increment();

  if (call.budget_at_arrival.has_value()) {
    if (*call.budget_at_arrival == absl::InfiniteDuration()) {
      series.without_deadline->Increment();
    } else {
      series.budget->Observe(absl::ToDoubleSeconds(
          std::max(*call.budget_at_arrival, absl::ZeroDuration())));
    }
  }

  series.steps_done->Increment(static_cast<double>(ending.steps_done));
  switch (ending.outcome) {
    case Outcome::kDeadlineExceeded:
    case Outcome::kCancelled:
      series.stop_latency->Observe(absl::ToDoubleSeconds(ending.stop_latency));
      [[fallthrough]];
    case Outcome::kOk:
    case Outcome::kRejected:
      series.steps_saved->Increment(static_cast<double>(
          std::max<int64_t>(call.steps_requested - ending.steps_done, 0)));
      break;
    default:
      break;
  }
  if (ending.noticed_cancel_at.has_value()) {
    series.wasted_steps->Increment(
        static_cast<double>(StepsAfter(*ending.noticed_cancel_at, call)));
  }
  if (ending.shed) series.shed->Increment();
  if (call.arrival_delay.has_value()) {
    series.arrival_delay->Observe(absl::ToDoubleSeconds(
        std::max(*call.arrival_delay, absl::ZeroDuration())));
  }
  if (ending.arrived_late) series.arrived_late->Increment();
  if (call.deadline_at_ignored) series.deadline_at_ignored->Increment();
  if (const int refusal = RefusalOf(call); refusal >= 0) {
    series.refused[refusal]->Increment();
  }
  int hedges = 0;
  for (int i = 1; i < call.trace.hops_size(); ++i) {
    hedges += call.trace.hops(i).hedge() ? 1 : 0;
  }
  if (hedges > 0) series.hedges->Increment(hedges);
  if (call.trace.hops_size() > 0 && call.trace.hops(0).attempt() > 1) {
    series.retries->Increment();
  }
}

std::shared_ptr<prometheus::Collectable> ServerMetrics::collectable() const {
  return view_;
}

std::string ServerMetrics::Text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, view_->Collect());
  return out.str();
}

}  // namespace deadline

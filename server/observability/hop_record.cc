#include "server/observability/hop_record.h"

#include <algorithm>
#include <utility>

#include "common/time_util.h"

namespace deadline {

HopRecord::HopRecord(HopSink& sink, absl::string_view hop,
                     absl::string_view method, std::string request_id,
                     absl::Time arrived)
    : sink_(sink),
      call_(sink.stats),
      hop_(hop),
      method_(method),
      request_id_(std::move(request_id)),
      arrived_(arrived) {}

void HopRecord::SetDeadline(absl::Time deadline) {
  deadline_read_ = true;
  deadline_ = deadline;
  budget_at_arrival_ = deadline - arrived_;  // Infinite for none.
  Refresh();
}

void HopRecord::SetDeadlineSource(
    absl::string_view from, bool deadline_at_ignored,
    absl::optional<absl::Duration> arrival_delay) {
  deadline_from_ = from;
  arrival_delay_ = arrival_delay;
  deadline_at_ignored_ = deadline_at_ignored;
  if (deadline_at_ignored) sink_.stats.CountDeadlineAtIgnored();
  Refresh();
}

void HopRecord::WorkStarted(absl::Time started) {
  work_started_ = std::min(work_started_, started);
}

void HopRecord::AddWaiting(absl::Duration waiting) {
  waiting_ += std::max(waiting, absl::ZeroDuration());
}

void HopRecord::SetForwarded(absl::Duration forwarded) {
  forwarded_ = forwarded;
  Refresh();
}

void HopRecord::SetStepsRequested(int64_t steps) {
  steps_requested_ = steps;
  Refresh();
}

void HopRecord::SetAttempt(int attempt) {
  attempt_ = attempt;
  Refresh();
}

void HopRecord::AddCalledHop(deadline::v1::HopTrace hop) {
  auto* copy =
      google::protobuf::Arena::CreateMessage<deadline::v1::HopTrace>(&arena_);
  copy->Swap(&hop);  // Copies: the hop is not in the arena.
  AddCalledHop(copy);
}

void HopRecord::AddCalledHop(deadline::v1::HopTrace* hop) {
  if (hop->GetArena() != &arena_) {
    auto* copy =
        google::protobuf::Arena::CreateMessage<deadline::v1::HopTrace>(&arena_);
    *copy = *hop;
    hop = copy;
  }
  if (trace_ == nullptr) {
    called_.push_back(hop);
  } else {
    trace_->mutable_hops()->UnsafeArenaAddAllocated(hop);
  }
}

void HopRecord::FillHop(deadline::v1::HopTrace& hop) const {
  hop.set_hop(std::string(hop_));
  hop.set_panel(-1);
  ToProtoTime(arrived_, hop.mutable_arrived_at());
  if (deadline_ != absl::InfiniteFuture()) {
    ToProtoTime(deadline_, hop.mutable_deadline());
    ToProtoDuration(budget_at_arrival_, hop.mutable_budget_at_arrival());
  }
  if (forwarded_.has_value()) {
    ToProtoDuration(*forwarded_, hop.mutable_forwarded());
  }
  hop.set_steps_requested(static_cast<int32_t>(steps_requested_));
  if (attempt_ != 0) hop.set_attempt(attempt_);
  if (!deadline_from_.empty())
    hop.set_deadline_from(std::string(deadline_from_));
  if (arrival_delay_.has_value()) {
    ToProtoDuration(*arrival_delay_, hop.mutable_arrival_delay());
  }
  if (!ended_) return;
  // The three parts of the time here add up to it: what came before the
  // work, the waits on other calls, and the rest.
  const absl::Duration elapsed = finished_ - arrived_;
  // Work that never started: a call shed from a queue waited all along;
  // any other, say refused at arrival, did not wait at all.
  const absl::Duration queued =
      work_started_ != absl::InfiniteFuture()
          ? std::clamp(work_started_ - arrived_, absl::ZeroDuration(), elapsed)
          : (ending_.shed ? elapsed : absl::ZeroDuration());
  const absl::Duration waiting = std::min(waiting_, elapsed - queued);
  ToProtoDuration(queued, hop.mutable_queued());
  ToProtoDuration(waiting, hop.mutable_waiting());
  ToProtoDuration(elapsed - queued - waiting, hop.mutable_working());
  hop.set_steps_done(static_cast<int32_t>(ending_.steps_done));
  hop.set_code(absl::StatusCodeToString(ending_.status.code()));
  hop.set_stop(ending_.stop);
  ToProtoTime(finished_, hop.mutable_finished_at());
  if (ending_.noticed_cancel_at.has_value()) {
    ToProtoTime(*ending_.noticed_cancel_at, hop.mutable_noticed_cancel_at());
  }
}

const deadline::v1::BudgetTrace& HopRecord::trace() const {
  if (trace_ == nullptr) {
    trace_ = google::protobuf::Arena::CreateMessage<deadline::v1::BudgetTrace>(
        &arena_);
    trace_->set_request_id(request_id_);
    FillHop(*trace_->add_hops());
    for (deadline::v1::HopTrace* called : called_) {
      trace_->mutable_hops()->UnsafeArenaAddAllocated(called);
    }
  }
  return *trace_;
}

const absl::Status& HopRecord::End(HopEnding ending, absl::Time now) {
  if (ended_) return ending_.status;
  ended_ = true;
  ending_ = std::move(ending);
  ending_.stop_latency = std::max(ending_.stop_latency, absl::ZeroDuration());
  finished_ = now;
  Refresh();
  if (Logged(sink_.log, ending_.status.code())) {
    LogCall(sink_.log, method_, trace(), hop(), ending_.stop_latency);
  }
  if (ending_.arrived_late) sink_.stats.CountArrivedLate();
  call_.End(ending_.outcome, ending_.steps_done, ending_.stop_latency,
            ending_.shed);
  if (sink_.observer != nullptr) {
    sink_.observer->OnCallEnd(
        {hop_, method_, ending_, arrived_, now,
         deadline_read_ ? absl::make_optional(budget_at_arrival_)
                        : absl::nullopt,
         steps_requested_, arrival_delay_, deadline_at_ignored_, trace()});
  }
  // Last: whoever the hook tells finds the call fully counted.
  if (sink_.on_call_end) sink_.on_call_end(trace());
  return ending_.status;
}

}  // namespace deadline

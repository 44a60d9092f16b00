#include "server/observability/hop_record.h"

#include <utility>

#include "common/time_util.h"

namespace deadline {

HopRecord::HopRecord(HopSink& sink, absl::string_view hop,
                     absl::string_view method, std::string request_id,
                     absl::Time arrived)
    : sink_(sink), call_(sink.stats), method_(method), arrived_(arrived) {
  trace_.set_request_id(std::move(request_id));
  deadline::v1::HopTrace& first = *trace_.add_hops();
  first.set_hop(std::string(hop));
  first.set_panel(-1);
  ToProtoTime(arrived, first.mutable_arrived_at());
}

void HopRecord::SetDeadline(absl::Time deadline) {
  deadline_read_ = true;
  if (deadline == absl::InfiniteFuture()) return;
  budget_at_arrival_ = deadline - arrived_;
  ToProtoTime(deadline, mutable_hop().mutable_deadline());
  ToProtoDuration(budget_at_arrival_,
                  mutable_hop().mutable_budget_at_arrival());
}

void HopRecord::SetForwarded(absl::Duration forwarded) {
  ToProtoDuration(forwarded, mutable_hop().mutable_forwarded());
}

void HopRecord::SetStepsRequested(int64_t steps) {
  mutable_hop().set_steps_requested(static_cast<int32_t>(steps));
}

void HopRecord::SetAttempt(int attempt) { mutable_hop().set_attempt(attempt); }

void HopRecord::AddCalledHop(deadline::v1::HopTrace hop) {
  trace_.add_hops()->Swap(&hop);  // Copies: the hop is not in the arena.
}

void HopRecord::AddCalledHop(deadline::v1::HopTrace* hop) {
  if (hop->GetArena() == &arena_) {
    trace_.mutable_hops()->UnsafeArenaAddAllocated(hop);
  } else {
    *trace_.add_hops() = *hop;
  }
}

const absl::Status& HopRecord::End(HopEnding ending, absl::Time now) {
  if (ended_) return ending_.status;
  ended_ = true;
  ending_ = std::move(ending);
  ending_.stop_latency = std::max(ending_.stop_latency, absl::ZeroDuration());
  deadline::v1::HopTrace& hop = mutable_hop();
  hop.set_steps_done(static_cast<int32_t>(ending_.steps_done));
  hop.set_code(absl::StatusCodeToString(ending_.status.code()));
  hop.set_stop(ending_.stop);
  ToProtoTime(now, hop.mutable_finished_at());
  if (ending_.noticed_cancel_at.has_value()) {
    ToProtoTime(*ending_.noticed_cancel_at, hop.mutable_noticed_cancel_at());
  }
  LogCall(sink_.log, method_, trace_, hop, ending_.stop_latency);
  call_.End(ending_.outcome, ending_.steps_done, ending_.stop_latency,
            ending_.shed);
  if (sink_.observer != nullptr) {
    sink_.observer->OnCallEnd({hop.hop(), method_, ending_, arrived_, now,
                               deadline_read_
                                   ? absl::make_optional(budget_at_arrival_)
                                   : absl::nullopt,
                               hop.steps_requested(), trace_});
  }
  // Last: whoever the hook tells finds the call fully counted.
  if (sink_.on_call_end) sink_.on_call_end(trace_);
  return ending_.status;
}

}  // namespace deadline

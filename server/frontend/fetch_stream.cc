#include "server/frontend/fetch_stream.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpc/grpc.h"
#include "grpcpp/support/client_callback.h"
#include "server/serving/raw_messages.h"

namespace deadline {
namespace {

using deadline::v1::FetchRequest;
using deadline::v1::HopTrace;
using deadline::v1::WorkProgress;

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// The backend's own message, or what this side saw when the backend did
// not answer. Another hop's text is bounded, so this hop's answer fits.
std::string BackendMessage(const grpc::Status& status) {
  const std::string message = Trimmed(status.error_message(), 512);
  if (absl::StartsWith(message, "backend: ")) return message;
  return absl::StrCat("backend call: ", message);
}

// "127.0.0.1:50052" from gRPC's "ipv4:127.0.0.1:50052".
std::string AddressOf(const grpc::ClientContext& context,
                      absl::string_view fallback) {
  std::string peer = context.peer();
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (absl::StartsWith(peer, scheme)) return peer.substr(scheme.size());
  }
  return peer.empty() ? std::string(fallback) : peer;
}

// One FetchStream: the caller's stream (this reactor) and the backend's
// (reader_), one message between them at a time. Messages go round a loop:
// a backend read completes (BackendRead), the message is written to the
// caller, the write completes (OnWriteDone), the next read starts. Only one
// of the two is ever pending.
//
// The reactor ends the caller's stream only from the backend stream's
// OnDone (or before starting it), so the backend's context, derived from
// the caller's, never outlives the call it derives from. It is deleted when
// gRPC is done with both streams and the timer has let go (holds_).
class FetchStreamReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  FetchStreamReactor(const FetchStreamHost& host,
                     grpc::CallbackServerContext& caller,
                     const grpc::ByteBuffer& request)
      : host_(host),
        caller_(caller),
        record_(*host.sink, "frontend", "FetchStream", RequestIdOf(caller),
                host.clock->Now()),
        trace_wanted_(TraceWanted(caller)) {
    Begin(request);
  }

  ~FetchStreamReactor() override {
    if (context_ != nullptr && !propagates()) host_.untrack(*context_);
  }

  // The caller's transport took the last message (or the stream is over).
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (ok) passed_on_.fetch_add(1, std::memory_order_relaxed);
    }
    if (ok) {
      reader_.StartRead(&progress_);  // Only now: flow control.
      return;
    }
    // The caller can take nothing more: it went away, its deadline passed,
    // or the stream was cut off here. The backend's work is for nobody.
    write_failed_ = true;
    context_->TryCancel();
    reader_.RemoveHold();
  }

  // The caller cancelled, went away, or its deadline passed. With
  // propagation, gRPC cancels the backend stream itself, at once.
  void OnCancel() override {
    caller_gone_at_.store(absl::ToUnixNanos(host_.clock->Now()),
                          std::memory_order_relaxed);
  }

  void OnDone() override { Release(); }

 private:
  // The backend's stream, handing each event to the call.
  class BackendReader final : public grpc::ClientReadReactor<WorkProgress> {
   public:
    explicit BackendReader(FetchStreamReactor& call) : call_(call) {}
    void OnReadDone(bool ok) override { call_.BackendRead(ok); }
    void OnDone(const grpc::Status& status) override {
      call_.BackendDone(status);
    }

   private:
    FetchStreamReactor& call_;
  };

  bool propagates() const {
    return host_.options.propagation != Propagation::kNone;
  }
  bool capped() const { return capped_; }
  int steps() const { return request_.work().steps(); }

  // Checks the request and plans the budget (answering at once when either
  // says so), then starts the backend stream.
  void Begin(const grpc::ByteBuffer& request) {
    if (absl::Status received = ParseRequest(request, request_);
        !received.ok()) {
      return End({absl::Status(received.code(),
                               absl::StrCat("frontend: ", received.message())),
                  OutcomeOf(received.code()), std::string(received.message())});
    }
    record_.SetStepsRequested(steps());
    const int max_in_flight = host_.options.max_in_flight;
    if (host_.sink->stats.in_flight() > max_in_flight) {
      return End({absl::ResourceExhaustedError(
                      absl::StrCat("frontend: ", max_in_flight,
                                   " calls are in flight, the most allowed "
                                   "(--max_in_flight); try again later")),
                  Outcome::kOverloaded, "overloaded: refused at once"});
    }
    const absl::StatusOr<WorkSpec> spec =
        ParseWorkRequest(request_.work(), host_.options.limits, "work.");
    if (!spec.ok()) {
      return End({absl::InvalidArgumentError(
                      absl::StrCat("frontend: ", spec.status().message())),
                  Outcome::kInvalid, "invalid request"});
    }
    const absl::Time deadline = DeadlineOf(caller_);
    record_.SetDeadline(deadline);
    budget_ = host_.policy->Plan(deadline, record_.arrived());
    if (budget_.fail_fast) {
      const std::string why = host_.policy->ExplainFailFast(budget_);
      return End({absl::DeadlineExceededError(
                      absl::StrCat("frontend: ", why, "; backend not called")),
                  Outcome::kRejected, absl::StrCat("fail fast: ", why)});
    }
    // The cap is this hop's own deadline for the stream: the backend gets
    // it, less the reserve, when it comes before the caller's.
    const absl::Duration reserve = host_.policy->options().reserve;
    const absl::Time cap_deadline =
        record_.arrived() + host_.options.max_stream_duration - reserve;
    if (cap_deadline < budget_.forward_deadline) {
      capped_ = true;
      budget_.forward_deadline = cap_deadline;
      budget_.forwarded = cap_deadline - record_.arrived();
    }
    // By then this hop has answered, whatever the backend or the reader do.
    ends_at_ = budget_.forward_deadline + reserve;
    if (propagates()) record_.SetForwarded(budget_.forwarded);
    StartBackend();
  }

  void StartBackend() {
    const StreamBackend backend = host_.next_backend();
    backend_name_ = backend.name;
    context_ = ChildContext(caller_, budget_.forward_deadline,
                            host_.options.propagation);
    context_->AddMetadata(kRequestIdKey, record_.request_id());
    if (trace_wanted_) WantTrace(*context_);
    if (!propagates()) host_.track(*context_);
    sent_at_ = host_.clock->Now();
    Hold();  // The backend stream's: let go by its OnDone.
    backend.stub->async()->WorkStream(context_.get(), &request_.work(),
                                      &reader_);
    // Reads start from OnWriteDone, outside the reader's own reactions: the
    // hold keeps the backend stream open for them until the last one.
    reader_.AddHold();
    reader_.StartRead(&progress_);
    {
      absl::MutexLock lock(&mu_);
      Hold();  // The timer's.
      timer_ = host_.clock->RunAt(ends_at_, [this] { StreamEnds(); });
      timer_armed_ = true;
    }
    reader_.StartCall();
  }

  // A backend read completed: pass the message on, or see the stream end.
  void BackendRead(bool ok) {
    if (!ok) {
      // The backend's stream is over (its status comes in OnDone), or was
      // cancelled.
      reader_.RemoveHold();
      return;
    }
    // Nothing from another hop is trusted: the steps come in order, one by
    // one, and no more than were asked for.
    if (progress_.step() != last_step_ + 1 || progress_.step() > steps()) {
      bad_message_ = absl::StrCat("backend ", backend_name_, " sent step ",
                                  progress_.step(), " after step ", last_step_,
                                  " of ", steps());
      context_->TryCancel();
      reader_.RemoveHold();
      return;
    }
    last_step_ = progress_.step();
    SerializeRaw(progress_, message_bytes_);
    {
      absl::MutexLock lock(&mu_);
      writing_ = true;
    }
    StartWrite(&message_bytes_);
  }

  // The stream's time here is up, and it has not ended: the reader has not
  // taken the last message (its flow-control window is full, so not even
  // the trailers could reach it), or, without propagation, the backend
  // stream (which then has no deadline) has not ended. End both streams
  // now. (A propagated backend stream has the deadline gRPC enforces: if it
  // is late, its status is on the way.) On the clock's timer thread; never
  // blocks.
  void StreamEnds() {
    grpc_call* stuck_caller = nullptr;
    bool cut = false;
    {
      absl::MutexLock lock(&mu_);
      timer_armed_ = false;
      if (!concluded_ && (writing_ || !propagates())) {
        cut = true;
        cut_message_ =
            absl::StrCat(Summary(capped()), "; cut off at ",
                         capped() ? "the cap" : "its deadline here", ": ",
                         writing_ ? "its reader had not taken the last message"
                                  : "the backend had not ended its stream");
        if (writing_) {
          // The call stays valid while referenced, even if it ends now.
          stuck_caller = caller_.c_call();
          grpc_call_ref(stuck_caller);
        }
      }
    }
    if (cut) {
      if (stuck_caller != nullptr) {
        // Cancelled with the status it would have ended with: its window is
        // full, so the trailers could not reach it. The write then fails,
        // and OnWriteDone stops the backend.
        grpc_call_cancel_with_status(stuck_caller,
                                     GRPC_STATUS_DEADLINE_EXCEEDED,
                                     cut_message_.c_str(), nullptr);
        grpc_call_unref(stuck_caller);
      }
      context_->TryCancel();
    }
    Release();
  }

  // The backend stream has ended, and nothing more can start on it:
  // answer the caller.
  void BackendDone(const grpc::Status& status) {
    const absl::Time now = host_.clock->Now();
    bool disarmed = false;
    {
      absl::MutexLock lock(&mu_);
      concluded_ = true;
      if (timer_armed_) disarmed = host_.clock->CancelTimer(timer_);
      timer_armed_ = false;
    }
    if (disarmed) Release();  // Never the last: the backend's hold is held.
    record_.AddCalledHop(BackendHop(status, now));
    Conclude(status, now);
    Release();  // Now the reactor may go, with OnDone.
  }

  void Conclude(const grpc::Status& status, absl::Time now) {
    const int64_t steps_done = passed_on_.load(std::memory_order_relaxed);
    if (!cut_message_.empty()) {
      return End({absl::DeadlineExceededError(cut_message_),
                  Outcome::kDeadlineExceeded,
                  capped() ? "cut off at --max_stream_duration"
                           : "cut off at its deadline",
                  steps_done, now - ends_at_});
    }
    if (const absl::optional<absl::Time> gone = CallerGoneAt()) {
      return EndForGoneCaller(now, *gone, steps_done);
    }
    if (!bad_message_.empty()) {
      return End(
          {absl::InternalError(absl::StrCat(Summary(), "; ", bad_message_)),
           Outcome::kFailed, "backend sent a bad message", steps_done});
    }
    if (status.ok() && last_step_ != steps()) {
      return End({absl::InternalError(
                      absl::StrCat(Summary(), "; backend ", backend_name_,
                                   " ended the stream OK after ", last_step_,
                                   " of ", steps(), " steps")),
                  Outcome::kFailed, "backend ended early", steps_done});
    }
    if (status.ok()) {
      return End({absl::OkStatus(), Outcome::kOk, "done", steps_done});
    }
    const absl::StatusCode code =
        static_cast<absl::StatusCode>(status.error_code());
    // A backend that stopped before its deadline let go early, not late.
    const absl::Duration stop_latency =
        code == absl::StatusCode::kDeadlineExceeded
            ? now - budget_.forward_deadline
            : absl::ZeroDuration();
    const bool at_cap = capped() && code == absl::StatusCode::kDeadlineExceeded;
    End({absl::Status(
             code, absl::StrCat(Summary(at_cap), "; ", BackendMessage(status))),
         OutcomeOf(code),
         at_cap
             ? "at --max_stream_duration"
             : absl::StrCat("backend failed: ", CodeName(status.error_code())),
         steps_done, stop_latency});
  }

  // "frontend: 300ms at arrival, forwarded 290ms, 12/100 messages passed
  // on", for status messages; with the cap first when `cap` says so.
  std::string Summary(bool cap = false) const {
    return absl::StrCat(
        "frontend: ",
        cap ? absl::StrCat(
                  "the stream reached --max_stream_duration=",
                  absl::FormatDuration(host_.options.max_stream_duration), "; ")
            : "",
        FormatBudget(budget_.at_arrival), " at arrival, ",
        propagates()
            ? absl::StrCat("forwarded ", FormatBudget(budget_.forwarded))
            : "forwarded no deadline (propagation off)",
        ", ", passed_on_.load(std::memory_order_relaxed), "/", steps(),
        " messages passed on");
  }

  // The moment the caller was seen to go. A failed write says so too, also
  // before OnCancel does.
  absl::optional<absl::Time> CallerGoneAt() {
    const int64_t gone = caller_gone_at_.load(std::memory_order_relaxed);
    if (gone != kNever) return absl::FromUnixNanos(gone);
    if (write_failed_ || caller_.IsCancelled()) return host_.clock->Now();
    return absl::nullopt;
  }

  // The caller went away at `gone`: nobody reads the answer, so the call is
  // counted for what the caller saw.
  void EndForGoneCaller(absl::Time now, absl::Time gone, int64_t steps_done) {
    const bool expired = now >= DeadlineOf(caller_);
    End({absl::Status(expired ? absl::StatusCode::kDeadlineExceeded
                              : absl::StatusCode::kCancelled,
                      absl::StrCat(Summary(),
                                   "; the caller went away and the backend "
                                   "stream was stopped")),
         expired ? Outcome::kDeadlineExceeded : Outcome::kCancelled,
         "the caller went away", steps_done, now - gone, gone});
  }

  // What the backend stream did: the backend's own account from its
  // trailers or, when it sent none, what this side saw of it.
  HopTrace* BackendHop(const grpc::Status& status, absl::Time now) {
    google::protobuf::Arena* arena = &record_.arena();
    deadline::v1::BudgetTrace* answer = TraceFrom(*context_, arena);
    HopTrace* hop = nullptr;
    if (answer != nullptr && answer->hops_size() > 0) {
      hop = answer->mutable_hops(0);
      // What the backend says it did is kept within what it was asked.
      hop->set_steps_done(std::clamp(hop->steps_done(), 0, steps()));
    } else {
      hop = google::protobuf::Arena::CreateMessage<HopTrace>(arena);
      hop->set_hop("backend");
      ToProtoTime(sent_at_, hop->mutable_arrived_at());
      ToProtoTime(now, hop->mutable_finished_at());
      if (propagates()) {
        ToProtoTime(budget_.forward_deadline, hop->mutable_deadline());
        ToProtoDuration(budget_.forward_deadline - sent_at_,
                        hop->mutable_budget_at_arrival());
      }
      hop->set_steps_done(last_step_);
      hop->set_code(CodeName(status.error_code()));
      hop->set_stop(status.ok()
                        ? "done"
                        : absl::StrCat("no answer: ", status.error_message()));
      if (status.error_code() == grpc::StatusCode::CANCELLED) {
        *hop->mutable_noticed_cancel_at() = hop->finished_at();
      }
    }
    hop->set_steps_requested(steps());
    hop->set_address(AddressOf(*context_, backend_name_));
    hop->set_panel(-1);
    return hop;
  }

  // The way out: records, sends the trace, and finishes.
  void End(HopEnding ending) {
    const absl::Status& status =
        record_.End(std::move(ending), host_.clock->Now());
    AttachTrace(caller_, record_.trace(), status);
    Finish(ToGrpcStatus(status));
  }

  void Hold() { holds_.fetch_add(1, std::memory_order_relaxed); }
  void Release() {
    if (holds_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  const FetchStreamHost& host_;
  grpc::CallbackServerContext& caller_;
  HopRecord record_;
  const bool trace_wanted_;
  FetchRequest request_;
  Budget budget_;
  bool capped_ = false;
  absl::Time ends_at_ = absl::InfiniteFuture();

  // The backend stream.
  std::string backend_name_;
  std::unique_ptr<grpc::ClientContext> context_;
  BackendReader reader_{*this};
  absl::Time sent_at_;

  // The message on its way (the loop's, one thread at a time).
  WorkProgress progress_;
  grpc::ByteBuffer message_bytes_;
  int last_step_ = 0;  // The last step read from the backend.
  // Messages the caller's transport took.
  std::atomic<int> passed_on_{0};
  bool write_failed_ = false;
  std::string bad_message_;

  std::atomic<int64_t> caller_gone_at_{kNever};

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool concluded_ ABSL_GUARDED_BY(mu_) = false;
  // Why the timer cut the stream off; set (once) before it cancels either
  // stream, so read without the lock once the backend stream has ended.
  std::string cut_message_;
  TimerId timer_ ABSL_GUARDED_BY(mu_);
  bool timer_armed_ ABSL_GUARDED_BY(mu_) = false;

  // gRPC's hold on the caller's stream (let go by OnDone), the backend
  // stream's and the timer's: the last to let go deletes the reactor.
  std::atomic<int> holds_{1};
};

}  // namespace

absl::StatusOr<absl::Duration> ParseMaxStreamDuration(
    absl::Duration flag, const BudgetOptions& budget) {
  if (flag == absl::ZeroDuration() || flag == absl::InfiniteDuration()) {
    return absl::InfiniteDuration();
  }
  const absl::Duration least = budget.reserve + budget.min_budget;
  if (flag <= least) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_stream_duration must be 0 (off), inf (off), or more than "
        "--reserve + --min_budget (",
        absl::FormatDuration(least), "), got ", absl::FormatDuration(flag)));
  }
  return flag;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartFetchStream(
    const FetchStreamHost& host, grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* request) {
  return new FetchStreamReactor(host, *context, *request);
}

}  // namespace deadline

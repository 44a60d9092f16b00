#include "server/frontend/fetch_stream.h"

#include <atomic>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_util.h"
#include "grpc/grpc.h"
#include "grpcpp/support/client_callback.h"
#include "server/frontend/frontend_call.h"
#include "server/serving/raw_messages.h"

namespace deadline {
namespace {

using deadline::v1::FetchRequest;
using deadline::v1::WorkProgress;

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
  FetchStreamReactor(Frontend& frontend, grpc::CallbackServerContext& caller,
                     const grpc::ByteBuffer& request)
      : frontend_(frontend),
        caller_(caller),
        call_(frontend, caller, "FetchStream") {
    if (!AdmitFetchRequest(call_, request, request_,
                           frontend.options().max_stream_duration)) {
      Finish(ToGrpcStatus(call_.status()));
      return;
    }
    StartBackend();
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
    call_.CallerGone(clock().Now());
    context_->TryCancel();
    reader_.RemoveHold();
  }

  // The caller cancelled, went away, or its deadline passed. With
  // propagation, gRPC cancels the backend stream itself, at once.
  void OnCancel() override { call_.CallerGone(clock().Now()); }

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

  Clock& clock() { return frontend_.clock(); }
  int steps() const { return request_.work().steps(); }
  bool capped() const { return call_.budget().capped; }

  void StartBackend() {
    // By then this hop has answered, whatever the backend or the reader do.
    ends_at_ =
        call_.budget().forward_deadline + frontend_.policy().options().reserve;
    backend_index_ = frontend_.NextBackend();
    backend_name_ = frontend_.backend(backend_index_).name;
    context_ = call_.NewBackendContext();
    sent_at_ = clock().Now();
    call_.Stamp(*context_, sent_at_);
    Hold();  // The backend stream's: let go by its OnDone.
    frontend_.backend(backend_index_)
        .stub->async()
        ->WorkStream(context_.get(), &request_.work(), &reader_);
    // Reads start from OnWriteDone, outside the reader's own reactions: the
    // hold keeps the backend stream open for them until the last one.
    reader_.AddHold();
    reader_.StartRead(&progress_);
    {
      absl::MutexLock lock(&mu_);
      Hold();  // The timer's.
      timer_ = clock().RunAt(ends_at_, [this] { StreamEnds(); });
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
      {
        absl::MutexLock lock(&mu_);
        cancelled_for_ = "it sent a message out of order";
      }
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
      if (!concluded_ && (writing_ || !call_.forwards_deadline())) {
        cut = true;
        cancelled_for_ = capped() ? "cut off at the cap" : "cut off here";
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
    const absl::Time now = clock().Now();
    bool disarmed = false;
    {
      absl::MutexLock lock(&mu_);
      concluded_ = true;
      if (timer_armed_) disarmed = clock().CancelTimer(timer_);
      timer_armed_ = false;
    }
    if (disarmed) Release();  // Never the last: the backend's hold is held.
    call_.AddWaiting(now - sent_at_);
    SeenBackendCall seen;
    seen.context = context_.get();
    seen.status = status;
    seen.backend = backend_name_;
    seen.sent_at = sent_at_;
    seen.ended_at = now;
    seen.steps_requested = steps();
    seen.steps_seen = last_step_;
    seen.cancelled_for = cancelled_for_;
    call_.AddBackendHop(call_.BackendHop(seen));
    Conclude(status, now);
    // Once finished, the server may shut down and its frontend go before
    // this reactor does: nothing after Finish() may touch the frontend.
    ForgetNow(context_);
    Finish(ToGrpcStatus(call_.status()));
    Release();  // Now the reactor may go, with OnDone.
  }

  void Conclude(const grpc::Status& status, absl::Time now) {
    const int64_t passed_on = passed_on_.load(std::memory_order_relaxed);
    if (!cut_message_.empty()) {
      call_.End({absl::DeadlineExceededError(cut_message_),
                 Outcome::kDeadlineExceeded,
                 capped() ? "cut off at --max_stream_duration"
                          : "cut off at its deadline",
                 passed_on, now - ends_at_});
      return;
    }
    const absl::StatusCode code =
        static_cast<absl::StatusCode>(status.error_code());
    const bool at_cap = capped() && code == absl::StatusCode::kDeadlineExceeded;
    BackendOutcome outcome;
    outcome.summary = Summary(at_cap);
    outcome.steps_done = passed_on;
    outcome.stopped = "the backend stream was stopped";
    if (!bad_message_.empty()) {
      outcome.status = absl::InternalError(bad_message_);
      outcome.stop = "backend sent a bad message";
    } else if (status.ok() && last_step_ != steps()) {
      outcome.status = absl::InternalError(
          absl::StrCat("backend ", backend_name_, " ended the stream OK after ",
                       last_step_, " of ", steps(), " steps"));
      outcome.stop = "backend ended early";
    } else if (!status.ok()) {
      outcome.status = absl::Status(code, BackendMessage(status));
      outcome.stop = at_cap ? "at --max_stream_duration"
                            : absl::StrCat("backend failed: ",
                                           CodeName(status.error_code()));
      outcome.hit_deadline = code == absl::StatusCode::kDeadlineExceeded;
    }
    call_.Conclude(outcome);
  }

  // "frontend: 300ms at arrival, forwarded 290ms, 12/100 messages passed
  // on", for status messages; with the cap first when `cap` says so.
  std::string Summary(bool cap) const {
    return absl::StrCat(
        call_.Summary(
            cap ? absl::StrCat("the stream reached "
                               "--max_stream_duration=",
                               absl::FormatDuration(
                                   frontend_.options().max_stream_duration),
                               "; ")
                : ""),
        ", ", passed_on_.load(std::memory_order_relaxed), "/", steps(),
        " messages passed on");
  }

  void Hold() { holds_.fetch_add(1, std::memory_order_relaxed); }
  void Release() {
    if (holds_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  Frontend& frontend_;
  grpc::CallbackServerContext& caller_;
  FrontendCall call_;
  FetchRequest request_;
  absl::Time ends_at_ = absl::InfiniteFuture();

  // The backend stream.
  int backend_index_ = 0;
  std::string backend_name_;
  BackendContext context_;
  BackendReader reader_{*this};
  absl::Time sent_at_;

  // The message on its way (the loop's, one thread at a time).
  WorkProgress progress_;
  grpc::ByteBuffer message_bytes_;
  int last_step_ = 0;  // The last step read from the backend.
  // Messages the caller's transport took.
  std::atomic<int> passed_on_{0};
  std::string bad_message_;

  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool concluded_ ABSL_GUARDED_BY(mu_) = false;
  // Why the timer cut the stream off, and why this side cancelled the
  // backend stream: set before the cancel, so read without the lock once
  // the backend stream has ended.
  std::string cut_message_;
  std::string cancelled_for_;
  TimerId timer_ ABSL_GUARDED_BY(mu_);
  bool timer_armed_ ABSL_GUARDED_BY(mu_) = false;

  // gRPC's hold on the caller's stream (let go by OnDone), the backend
  // stream's and the timer's: the last to let go deletes the reactor.
  std::atomic<int> holds_{1};
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartFetchStream(
    Frontend& frontend, grpc::CallbackServerContext& caller,
    const grpc::ByteBuffer& request) {
  return new FetchStreamReactor(frontend, caller, request);
}

}  // namespace deadline

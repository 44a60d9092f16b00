#include "server/backend/backend_service.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/grpc_time.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/backend/backend_reactor.h"
#include "server/serving/raw_messages.h"

namespace deadline {

using deadline::v1::WorkProgress;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

// Backend.Work: sleep-like work is one timer, to the end of the work or
// the stop time; CPU-bound work is one turn on a worker.
class BackendService::WorkReactor final
    : public Reactor<grpc::ServerUnaryReactor> {
 public:
  WorkReactor(BackendService& service, grpc::CallbackServerContext& context,
              const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : Reactor(service, context, "Work", request), reply_bytes_(reply) {}

  // Answers a call that ends as it arrives, on this thread, and lets go of
  // the reactor, which gRPC never sees: gRPC's own reactor finishes the
  // call, because gRPC runs its OnDone inline, where a reactor of ours would
  // have its OnDone handed to gRPC's executor thread, a thread hop per call
  // (grpc 1.51, src/cpp/server/server_callback.cc, ScheduleOnDone).
  static grpc::ServerUnaryReactor* AnswerAtOnce(
      std::unique_ptr<WorkReactor> reactor) {
    const grpc::Status status =
        ToGrpcStatus(reactor->EndCall(reactor->StopNow(reactor->start_)));
    grpc::ServerUnaryReactor* answer = reactor->context_.DefaultReactor();
    reactor.reset();
    answer->Finish(status);
    return answer;
  }

 private:
  absl::Time NextWake() override {
    return StepEnd(spec(), start_, spec().steps - 1);
  }

  void WakeUp() override {
    const absl::Time now = clock().Now();
    {
      absl::MutexLock lock(&mu_);
      if (state_ != State::kSleeping) return;
      state_ = State::kDone;
    }
    steps_done_ = StepsDoneBy(spec(), start_, now);
    Conclude(StopNow(now));
  }

  void Run() override {
    if (Dropped()) return;
    // The loop checks its caller and the stop time as it goes.
    const WorkResult result = RunOnWorker(spec());
    steps_done_ = result.steps_done;
    Conclude(WorkStop::Of(result));
  }

  void Finished(const BackendCall& call) override {
    WorkReply reply;
    call.FillReply(reply);
    SerializeRaw(reply, reply_bytes_);
  }

  grpc::ByteBuffer& reply_bytes_;
};

// Backend.WorkStream: one message per finished step, each written only
// after the transport took the previous one. Between writes, sleep-like
// work waits on a timer for the next step's end; CPU-bound work goes back
// to the workers, ahead of newcomers.
class BackendService::StreamReactor final
    : public Reactor<grpc::ServerWriteReactor<grpc::ByteBuffer>> {
 public:
  StreamReactor(BackendService& service, grpc::CallbackServerContext& context,
                const grpc::ByteBuffer& request)
      : Reactor(service, context, "WorkStream", request) {}

 private:
  absl::Time NextWake() override {
    return StepEnd(spec(), start_, steps_done_);
  }

  void WakeUp() override {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    if (state_ != State::kSleeping) return;
    if (ShouldStop(now)) {
      state_ = State::kDone;
      lock.Release();
      return Conclude(StopNow(now));
    }
    if (StepsDoneBy(spec(), start_, now) > steps_done_) return Write(now);
    Sleep();  // Woken early: wait on.
  }

  void Run() override {
    if (Dropped()) return;
    // One CPU-bound step, checking the caller and the stop time as it goes.
    const WorkResult step = RunOnWorker(WorkSpec{1, spec().step, true});
    if (step.reason != StopReason::kCompleted) {
      return Conclude(WorkStop::Of(step));
    }
    absl::MutexLock lock(&mu_);
    Write(step.finished);
  }

  // Sends the next step's message; OnWriteDone says when it was taken.
  void Write(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    state_ = State::kWriting;
    WorkProgress progress;
    call_.FillProgress(steps_done_ + 1, now, progress);
    SerializeRaw(progress, progress_bytes_);
    StartWrite(&progress_bytes_);
  }

  void OnWriteDone(bool ok) override {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    if (ok) ++steps_done_;
    if (!ok || steps_done_ == spec().steps || ShouldStop(now)) {
      state_ = State::kDone;
      lock.Release();
      // A failed write means the stream is over: the caller went (also
      // before OnCancel says so), the server is shutting down, or the
      // deadline passed while the reader dawdled.
      WorkStop stop = StopNow(now);
      if (!ok) stop.cancel_heard_at = now;
      return Conclude(stop);
    }
    if (spec().spin) {
      Enqueue(/*resume=*/true).IgnoreError();  // Resuming is never refused.
    } else if (StepsDoneBy(spec(), start_, now) > steps_done_) {
      Write(now);  // The reader was slow: the next step is due already.
    } else {
      Sleep();
    }
  }

  grpc::ByteBuffer progress_bytes_;  // The message being written.
};

BackendService::BackendService(const BackendOptions& options, Clock& clock)
    : core_(options, clock), workers_(options.workers, options.max_queue) {}

BackendService::~BackendService() {
  // gRPC has called OnDone for every call by now; a timer or a task may
  // still be letting go of its reactor.
  while (live_.load(std::memory_order_acquire) > 0) {
    absl::SleepFor(absl::Milliseconds(1));
  }
}

grpc::ServerUnaryReactor* BackendService::Work(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* reply) {
  auto reactor =
      std::make_unique<WorkReactor>(*this, *context, *request, *reply);
  if (reactor->EndsAtOnce())
    return WorkReactor::AnswerAtOnce(std::move(reactor));
  reactor->Start();
  return reactor.release();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* BackendService::WorkStream(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  auto* reactor = new StreamReactor(*this, *context, *request);
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* BackendService::Record(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* reply) {
  deadline::v1::AuditRecord record;
  absl::Status status = ParseRequest(*request, record);
  if (status.ok()) status = core_.Store(record);
  if (status.ok()) SerializeRaw(deadline::v1::RecordReply(), *reply);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

StatsSnapshot BackendService::stats() const {
  StatsSnapshot snapshot = core_.stats().Snapshot();
  snapshot.records = core_.records();
  snapshot.queue_depth = workers_.queue_depth();
  return snapshot;
}

}  // namespace deadline

#include "server/backend/backend_service.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/serving/raw_messages.h"

namespace deadline {

using deadline::v1::WorkProgress;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

// What both reactors share: the call's logic (BackendCall), the answer, the
// timer or queued task that stands for the call while no thread runs it,
// and the reactor's lifetime.
//
// A reactor lives until gRPC is done with it (OnDone) and every timer or
// task that may still touch it has run or been cancelled: each of these
// holds it (Hold/Release) and the last release deletes it. Its state moves
// once, under `mu_`, from waiting (on a timer, or in the queue) or running
// to done, so exactly one path ends the call.
template <typename GrpcReactor>
class BackendService::Reactor : public GrpcReactor, public Caller {
 public:
  void OnDone() final { Release(); }

  // Caller, for the work loop on a worker thread: the context itself
  // (never cancelled, for the --ignore_cancel anti-pattern).
  bool IsCancelled() final {
    return !ignore_cancel() && context_.IsCancelled();
  }
  void WaitUntil(absl::Time until) final {
    clock().SleepUntil(until, caller_gone_);
  }

 protected:
  enum class State {
    kSleeping,  // Waiting on timer_ for the next step's end or the deadline.
    kQueued,    // Waiting in the worker queue as task_.
    kRunning,   // On a worker thread.
    kWriting,   // A stream message is with the transport.
    kDone,      // Ended: answered, or about to be.
  };

  Reactor(BackendService& service, grpc::CallbackServerContext& context,
          absl::string_view method, const grpc::ByteBuffer& request)
      : service_(service),
        context_(context),
        call_(service.core_,
              {method, RequestIdOf(context), DeadlineOf(context),
               AttemptOf(context)},
              request_, ParseRequest(request, request_)) {
    service_.live_.fetch_add(1, std::memory_order_relaxed);
  }
  ~Reactor() override {
    service_.live_.fetch_sub(1, std::memory_order_release);
  }

  Clock& clock() { return service_.core_.clock(); }
  bool ignore_cancel() const { return service_.core_.options().ignore_cancel; }
  const WorkSpec& spec() const { return call_.spec(); }

  // Starts the admitted work, or answers at once. Called last by the
  // subclass's constructor: from here on, timers and workers may run.
  void Start() {
    if (!call_.admitted()) return Answer(call_.status());
    start_ = clock().Now();
    if (spec().steps == 0) return End(Completed(start_));
    went_async_ = true;
    absl::ReleasableMutexLock lock(&mu_);
    if (spec().spin) {
      // The queue is bounded: refuse at once rather than answer late.
      const absl::Status queued = Enqueue(/*resume=*/false);
      if (!queued.ok()) {
        state_ = State::kDone;
        lock.Release();
        return Answer(call_.Refuse(queued));
      }
      // Work still waiting for a worker at its stop time leaves the queue.
      ArmTimer(call_.stop_at(), [this] { ShedAtDeadline(); });
    } else {
      Sleep();
    }
  }

  // Sleep-like work waits on a timer: for the next step's end (a stream
  // writes every step) or the end of the work, or the deadline.
  void Sleep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    state_ = State::kSleeping;
    ArmTimer(std::min(NextWake(), call_.stop_at()), [this] { WakeUp(); });
  }
  // When the sleep-like work next has something to do.
  virtual absl::Time NextWake() = 0;
  // The timer of a sleeping call fired.
  virtual void WakeUp() = 0;
  // CPU-bound work, on a worker thread.
  virtual void Run() = 0;

  // OnCancel: the caller has gone (or the deadline passed, or the server is
  // shutting down). A sleeping or queued call ends now; running work sees
  // IsCancelled() at its next check; a pending write fails.
  void OnCancel() final {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    cancelled_at_ = now;
    if (ignore_cancel()) return;  // The anti-pattern: heard, never heeded.
    caller_gone_.Notify();
    if (state_ == State::kSleeping && DisarmTimer()) {
      state_ = State::kDone;
      lock.Release();
      return End(Stopped(StopReason::kCancelled, now, absl::ZeroDuration()));
    }
    if (state_ == State::kQueued && Dequeue()) {
      state_ = State::kDone;
      lock.Release();
      return End(Stopped(StopReason::kCancelled, now, absl::ZeroDuration()),
                 /*shed=*/steps_done_ == 0);
    }
    // Otherwise whoever holds the call now ends it.
  }

  // Whether OnCancel has come, or the context says so already.
  bool CallerGone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return caller_gone_.HasBeenNotified() || IsCancelled();
  }
  // Whether the call was cancelled before its stop time: by its caller or
  // by a shutdown, not by the deadline.
  bool CancelledBeforeStopTime() {
    absl::MutexLock lock(&mu_);
    return cancelled_at_ < call_.stop_at();
  }

  // On a worker, before any work: a call whose caller left, or whose time
  // ran out, while it waited in the queue is dropped, not run. Returns
  // whether it was.
  bool DropIfStale() {
    const absl::Time now = clock().Now();
    const bool shed = steps_done_ == 0;
    if (IsCancelled()) {
      End(Stopped(StopReason::kCancelled, now, absl::ZeroDuration()), shed);
      return true;
    }
    if (now >= call_.stop_at()) {
      End(Stopped(StopReason::kDeadline, now, now - call_.stop_at()), shed);
      return true;
    }
    return false;
  }

  // The stop-time timer of a queued call fired.
  void ShedAtDeadline() {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    if (state_ != State::kQueued || !Dequeue()) return;
    state_ = State::kDone;
    lock.Release();
    End(Stopped(StopReason::kDeadline, now, now - call_.stop_at()),
        /*shed=*/steps_done_ == 0);
  }

  // Queues Run() for a worker. `resume`: work already admitted goes on
  // ahead of newcomers and beyond the queue's bound.
  absl::Status Enqueue(bool resume) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Hold();
    auto run = [this] {
      {
        absl::MutexLock lock(&mu_);
        state_ = State::kRunning;
      }
      Run();
      Release();
    };
    state_ = State::kQueued;
    if (resume) {
      task_ = service_.workers_.Resume(std::move(run));
      return absl::OkStatus();
    }
    // A newcomer is refused if the work queued ahead would keep it from
    // finishing by its stop time: better RESOURCE_EXHAUSTED now than a
    // queue whose every call runs out of time in it.
    absl::StatusOr<WorkerPool::TaskId> task =
        service_.workers_.Submit(std::move(run), spec().steps * spec().step,
                                 call_.stop_at() - clock().Now());
    if (!task.ok()) {
      Release();
      return task.status();
    }
    task_ = *task;
    return absl::OkStatus();
  }

  // The result of work that stopped at `now` after `steps_done_` steps.
  WorkResult Stopped(StopReason reason, absl::Time now,
                     absl::Duration stop_latency) const {
    WorkResult result;
    result.steps_done = steps_done_;
    result.reason = reason;
    result.finished = now;
    result.stop_latency = std::max(stop_latency, absl::ZeroDuration());
    return result;
  }
  WorkResult Completed(absl::Time now) const {
    WorkResult result =
        Stopped(StopReason::kCompleted, now, absl::ZeroDuration());
    result.steps_done = spec().steps;
    return result;
  }

  // Ends the call: counts and traces it, and answers. Exactly once, from
  // whichever path moved the state to done (or before any work).
  void End(const WorkResult& result, bool shed = false) {
    if (went_async_) {
      absl::MutexLock lock(&mu_);
      state_ = State::kDone;
      DisarmTimer();
      if (ignore_cancel() && cancelled_at_ != absl::InfiniteFuture()) {
        call_.NoteIgnoredCancel(cancelled_at_);
      }
    }
    const absl::Status& status = call_.End(result, shed);
    Finished(call_);
    Answer(status);
  }
  // Lets a unary call fill its reply before the answer goes.
  virtual void Finished(const BackendCall& call) {}

  BackendService& service_;
  grpc::CallbackServerContext& context_;
  WorkRequest request_;  // Parsed from the bytes gRPC hands over.
  BackendCall call_;
  absl::Time start_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kRunning;
  // Steps finished (a stream: steps written).
  int steps_done_ = 0;
  // Whether the work was handed to a timer or a worker; set before any
  // other thread can see the call. Calls answered at once take no lock.
  bool went_async_ = false;

 private:
  // The trace goes back in trailing metadata, whatever the outcome.
  void Answer(const absl::Status& status) {
    AttachTrace(context_, call_.trace(), status);
    this->Finish(ToGrpcStatus(status));
  }

  void Hold() { holds_.fetch_add(1, std::memory_order_relaxed); }
  void Release() {
    if (holds_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void ArmTimer(absl::Time when, absl::AnyInvocable<void()> fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Hold();
    timer_ = clock().RunAt(when, [this, fn = std::move(fn)]() mutable {
      fn();
      Release();
    });
    timer_armed_ = true;
  }
  // True when the timer was stopped before it ran.
  bool DisarmTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!timer_armed_) return false;
    timer_armed_ = false;
    if (!clock().CancelTimer(timer_)) return false;
    Release();
    return true;
  }
  // True when the task was taken back before a worker took it.
  bool Dequeue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!service_.workers_.Remove(task_)) return false;
    Release();
    return true;
  }

  // gRPC's hold, released by OnDone().
  std::atomic<int> holds_{1};
  absl::Notification caller_gone_;
  absl::Time cancelled_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  TimerId timer_ ABSL_GUARDED_BY(mu_);
  bool timer_armed_ ABSL_GUARDED_BY(mu_) = false;
  WorkerPool::TaskId task_ ABSL_GUARDED_BY(mu_) = 0;
};

// Backend.Work: sleep-like work is one timer, to the end of the work or
// the deadline; CPU-bound work is one turn on a worker.
class BackendService::WorkReactor final
    : public Reactor<grpc::ServerUnaryReactor> {
 public:
  WorkReactor(BackendService& service, grpc::CallbackServerContext& context,
              const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : Reactor(service, context, "Work", request), reply_bytes_(reply) {
    Start();
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
    if (steps_done_ == spec().steps) return End(Completed(now));
    End(Stopped(StopReason::kDeadline, now, now - call_.stop_at()));
  }

  void Run() override {
    if (DropIfStale()) return;
    // The loop checks IsCancelled() and the deadline as it goes.
    const WorkResult result = RunWork(spec(), call_.stop_at(), *this, clock(),
                                      service_.core_.options().check_interval);
    steps_done_ = result.steps_done;
    End(result);
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
      : Reactor(service, context, "WorkStream", request) {
    Start();
  }

 private:
  absl::Time NextWake() override {
    return StepEnd(spec(), start_, steps_done_);
  }

  void WakeUp() override {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    if (state_ != State::kSleeping) return;
    if (now >= call_.stop_at() || CallerGone()) {
      state_ = State::kDone;
      lock.Release();
      return End(
          now >= call_.stop_at()
              ? Stopped(StopReason::kDeadline, now, now - call_.stop_at())
              : Stopped(StopReason::kCancelled, now, absl::ZeroDuration()));
    }
    if (StepsDoneBy(spec(), start_, now) > steps_done_) return Write(now);
    Sleep();  // Woken early: wait on.
  }

  void Run() override {
    if (DropIfStale()) return;
    // One CPU-bound step, checking the caller and the deadline as it goes.
    const WorkResult step =
        RunWork(WorkSpec{1, spec().step, /*spin=*/true}, call_.stop_at(), *this,
                clock(), service_.core_.options().check_interval);
    if (step.reason != StopReason::kCompleted) {
      return End(Stopped(step.reason, step.finished, step.stop_latency));
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
    const bool done = ok && steps_done_ == spec().steps;
    if (!ok || done || CallerGone() || now >= call_.stop_at()) {
      state_ = State::kDone;
      lock.Release();
      if (done) return End(Completed(now));
      // A failed write means the stream is over: the caller went (also
      // before OnCancel says so), the server is shutting down, or the
      // deadline passed while the reader dawdled.
      return End(
          now >= call_.stop_at() && !CancelledBeforeStopTime()
              ? Stopped(StopReason::kDeadline, now, now - call_.stop_at())
              : Stopped(StopReason::kCancelled, now, absl::ZeroDuration()));
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
  return new WorkReactor(*this, *context, *request, *reply);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* BackendService::WorkStream(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return new StreamReactor(*this, *context, *request);
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

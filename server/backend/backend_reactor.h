#ifndef DEADLINE_SERVER_BACKEND_BACKEND_REACTOR_H_
#define DEADLINE_SERVER_BACKEND_BACKEND_REACTOR_H_

// BackendService's reactor base, shared by its Work and WorkStream
// reactors (backend_service.cc): private to the backend.

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_time.h"
#include "common/status_util.h"
#include "common/trace.h"
#include "server/backend/backend_service.h"
#include "server/deadline/propagation.h"
#include "server/serving/raw_messages.h"

namespace deadline {

// What both reactors share: the call's logic (BackendCall), the answer, the
// timer or queued task that stands for the call while no thread runs it,
// and the reactor's lifetime.
//
// A reactor lives until gRPC is done with it (OnDone) and every timer or
// task that may still touch it has run or been cancelled: each of these
// holds it (Hold/Release) and the last release deletes it. Its state moves
// under `mu_` from waiting (on a timer, or in the queue), running or writing
// to done. Whichever path holds the call (the timer or task it took back,
// the worker running it, the write that completed) moves it to done and
// calls Conclude(), the one way out: BackendCall::End() decides why the
// work stopped from what Conclude() hands it.
template <typename GrpcReactor>
class BackendService::Reactor : public GrpcReactor, public Caller {
 public:
  void OnDone() final { Release(); }

  // Caller: the call's own view of its caller, which the work asks through
  // call_.Heard(). Cheap in the callback API: an atomic load and an
  // uncontended mutex.
  bool IsCancelled() final {
    return caller_gone_.HasBeenNotified() || context_.IsCancelled();
  }
  void WaitUntil(absl::Time until) final {
    clock().SleepUntil(until, caller_gone_);
  }

  // Whether the call ends as it arrives: refused, or no work to do.
  bool EndsAtOnce() const { return !call_.admitted() || spec().steps == 0; }

  // Starts the admitted work, or answers at once. From here on, timers and
  // workers may run.
  void Start() {
    if (EndsAtOnce()) return Conclude(StopNow(start_));
    absl::ReleasableMutexLock lock(&mu_);
    if (spec().spin) {
      // The queue is bounded: refuse at once rather than answer late.
      if (const absl::Status queued = Enqueue(/*resume=*/false); !queued.ok()) {
        lock.Release();
        call_.Refuse(queued);
        return Conclude(StopNow(start_));
      }
      // Work still waiting for a worker at its stop time leaves the queue.
      ArmTimer(call_.stop_at(), [this] { ShedAtStopTime(); });
    } else {
      call_.WorkStarted(start_);
      Sleep();
    }
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
              {method, RequestIdOf(context), CallerDeadlineOf(context),
               AttemptOf(context)},
              request_, ParseRequest(request, request_)),
        start_(clock().Now()) {
    // A call that does no work counts every step it asked for (none) done.
    if (EndsAtOnce()) steps_done_ = spec().steps;
    service_.live_.fetch_add(1, std::memory_order_relaxed);
  }
  ~Reactor() override {
    service_.live_.fetch_sub(1, std::memory_order_release);
  }

  Clock& clock() { return service_.core_.clock(); }
  const WorkSpec& spec() const { return call_.spec(); }
  // What the work asks about its caller.
  Caller& heard() { return call_.Heard(*this); }

  // Sleep-like work waits on a timer: for the next step's end (a stream
  // writes every step) or the end of the work, or the stop time.
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
  // shutting down). If the work heeds it, a sleeping or queued call ends
  // now; running work sees IsCancelled() at its next check; a pending write
  // fails.
  void OnCancel() final {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    cancel_heard_at_ = std::min(cancel_heard_at_, now);
    caller_gone_.Notify();
    if (!heard().IsCancelled()) return;
    WorkStop stop = StopNow(now);
    stop.shed = state_ == State::kQueued && steps_done_ == 0;
    if ((state_ == State::kSleeping && DisarmTimer()) ||
        (state_ == State::kQueued && Dequeue())) {
      state_ = State::kDone;
      lock.Release();
      return Conclude(stop);
    }
    // Otherwise whoever holds the call now ends it.
  }

  // The facts at `now`, for a path that stops the work then: the caller
  // has gone if the work hears so.
  WorkStop StopNow(absl::Time now) {
    WorkStop stop;
    stop.at = now;
    if (heard().IsCancelled()) stop.cancel_heard_at = now;
    return stop;
  }
  // Whether work that is due to go on at `now` should stop instead.
  bool ShouldStop(absl::Time now) {
    return now >= call_.stop_at() || heard().IsCancelled();
  }

  // On a worker, before any work: a call whose caller left, or whose stop
  // time passed, while it waited in the queue is dropped, not run. Returns
  // whether it was.
  bool Dropped() {
    const absl::Time now = clock().Now();
    if (!ShouldStop(now)) return false;
    WorkStop stop = StopNow(now);
    stop.shed = steps_done_ == 0;
    Conclude(stop);
    return true;
  }
  // Runs `work` on this worker until it is done, the stop time passes or
  // the caller goes, asking the caller as the work hears it.
  WorkResult RunOnWorker(const WorkSpec& work) {
    call_.WorkStarted(clock().Now());
    return RunWork(work, call_.stop_at(), heard(), clock(),
                   service_.core_.options().check_interval);
  }

  // The stop-time timer of a queued call fired.
  void ShedAtStopTime() {
    const absl::Time now = clock().Now();
    absl::ReleasableMutexLock lock(&mu_);
    if (state_ != State::kQueued || !Dequeue()) return;
    state_ = State::kDone;
    lock.Release();
    WorkStop stop = StopNow(now);
    stop.shed = steps_done_ == 0;
    Conclude(stop);
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

  // The one way out, for whichever path holds the call: ends it with what
  // that path saw (`seen`), what OnCancel heard and the steps done, then
  // counts, traces and answers it.
  void Conclude(WorkStop seen) { this->Finish(ToGrpcStatus(EndCall(seen))); }
  // Conclude() but the finish: returns the status to finish with.
  const absl::Status& EndCall(WorkStop seen) {
    {
      absl::MutexLock lock(&mu_);
      state_ = State::kDone;
      DisarmTimer();
      seen.steps_done = steps_done_;
      seen.cancel_heard_at = std::min(seen.cancel_heard_at, cancel_heard_at_);
    }
    const absl::Status& status = call_.End(seen);
    Finished(call_);
    AttachTrace(context_, call_.trace(), status);
    return status;
  }
  // Lets a unary call fill its reply before the answer goes.
  virtual void Finished(const BackendCall&) {}

  BackendService& service_;
  grpc::CallbackServerContext& context_;
  deadline::v1::WorkRequest request_;  // Parsed from the bytes gRPC hands over.
  BackendCall call_;
  absl::Time start_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kRunning;
  // Steps finished (a stream: steps written).
  int steps_done_ = 0;

 private:
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
  absl::Time cancel_heard_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  TimerId timer_ ABSL_GUARDED_BY(mu_);
  bool timer_armed_ ABSL_GUARDED_BY(mu_) = false;
  WorkerPool::TaskId task_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_BACKEND_REACTOR_H_

#ifndef DEADLINE_SERVER_DEADLINE_WORKER_POOL_H_
#define DEADLINE_SERVER_DEADLINE_WORKER_POOL_H_

#include <cstdint>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace deadline {

// A fixed number of threads for CPU-bound work, fed from one bounded queue,
// first in, first out. A call's cost is then a queue entry, not a thread:
// however many calls are in flight, the process holds `workers` threads.
//
// Overload is answered at the door: Submit() refuses a task at once when
// `max_queue` tasks are already waiting, or when the work already waiting
// would keep it from finishing within its caller's patience, rather than
// letting the queue (and everybody's wait) grow until every call in it
// runs out of time. A task still waiting can be taken back with Remove(),
// so work whose caller has gone never runs.
//
// Thread-safe. Tasks run on the pool's threads; they may call Resume() and
// Remove() but must not destroy the pool.
class WorkerPool {
 public:
  using Task = absl::AnyInvocable<void()>;
  // Identifies a waiting task for Remove().
  using TaskId = int64_t;

  // `workers` >= 1 threads; at most `max_queue` >= 0 tasks wait.
  WorkerPool(int workers, int max_queue);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Waits for running tasks and joins the threads. Tasks still waiting are
  // destroyed without running.
  ~WorkerPool();

  // Queues `task`, which takes about `cost` of a worker, behind every
  // waiting one. RESOURCE_EXHAUSTED, naming the bound, when `max_queue`
  // tasks are waiting already; also when the expected wait (the waiting
  // and running tasks' cost over the workers) plus `cost` exceeds
  // `patience`, the time its caller can give it. A task that could not
  // finish within `patience` anyway (cost > patience) is refused only when
  // it would not even start in time, and counts as `patience` of work for
  // those behind it. A refused `task` is destroyed without running.
  absl::StatusOr<TaskId> Submit(
      Task task, absl::Duration cost = absl::ZeroDuration(),
      absl::Duration patience = absl::InfiniteDuration());

  // Queues `task` ahead of every waiting one, beyond the bound: for work
  // that was admitted, paused (say, a stream waiting for its reader) and
  // now goes on, so it is not made to queue again behind newcomers.
  TaskId Resume(Task task);

  // Takes back a waiting task: true when it was still waiting (it is
  // destroyed without running), false when a worker has taken it.
  bool Remove(TaskId id);

  // Tasks waiting now.
  int queue_depth() const;
  int max_queue() const { return max_queue_; }

 private:
  struct Waiting {
    Task task;
    absl::Duration cost;
  };
  void Work();
  // Takes `it` out of the queue, with its cost.
  Task Take(std::map<TaskId, Waiting>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int workers_;
  const int max_queue_;
  mutable absl::Mutex mu_;
  // Ordered by id: Resume() hands out ids below every other, Submit() above.
  std::map<TaskId, Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  // What the waiting tasks cost, together, and the running ones.
  absl::Duration waiting_cost_ ABSL_GUARDED_BY(mu_);
  absl::Duration running_cost_ ABSL_GUARDED_BY(mu_);
  TaskId next_back_ ABSL_GUARDED_BY(mu_) = 0;
  TaskId next_front_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_WORKER_POOL_H_

#include "server/deadline/worker_pool.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace deadline {

WorkerPool::WorkerPool(int workers, int max_queue)
    : workers_(workers), max_queue_(max_queue) {
  threads_.reserve(workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

absl::StatusOr<WorkerPool::TaskId> WorkerPool::Submit(Task task,
                                                      absl::Duration cost,
                                                      absl::Duration patience) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(waiting_.size()) >= max_queue_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the work queue is full: ", waiting_.size(),
                     " calls are waiting for a worker, the most allowed "
                     "(--max_queue=",
                     max_queue_, ")"));
  }
  // The running tasks count whole: a conservative guess at what is left.
  const absl::Duration wait = (waiting_cost_ + running_cost_) / workers_;
  const absl::Duration needed = cost <= patience ? cost : absl::ZeroDuration();
  if (wait + needed > patience) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the work queue is too long for this call: ", waiting_.size(),
        " calls wait with ", FormatBudget(wait), " of work per worker (",
        workers_, " workers), and this call's ", FormatBudget(cost),
        " of work has ", FormatBudget(patience), " left"));
  }
  // Work longer than its patience is stopped when that runs out: what it
  // keeps a worker for is the patience.
  const absl::Duration held = std::min(cost, patience);
  const TaskId id = next_back_++;
  waiting_.emplace(id, Waiting{std::move(task), held});
  waiting_cost_ += held;
  return id;
}

WorkerPool::TaskId WorkerPool::Resume(Task task) {
  absl::MutexLock lock(&mu_);
  const TaskId id = --next_front_;
  waiting_.emplace(id, Waiting{std::move(task), absl::ZeroDuration()});
  return id;
}

WorkerPool::Task WorkerPool::Take(std::map<TaskId, Waiting>::iterator it) {
  Task task = std::move(it->second.task);
  waiting_cost_ -= it->second.cost;
  waiting_.erase(it);
  return task;
}

bool WorkerPool::Remove(TaskId id) {
  Task removed;  // Destroyed outside the lock.
  absl::MutexLock lock(&mu_);
  const auto it = waiting_.find(id);
  if (it == waiting_.end()) return false;
  removed = Take(it);
  return true;
}

int WorkerPool::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

void WorkerPool::Work() {
  for (;;) {
    Task task;
    absl::Duration cost;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->waiting_.empty();
          },
          this));
      if (stopping_) return;
      cost = waiting_.begin()->second.cost;
      task = Take(waiting_.begin());
      running_cost_ += cost;
    }
    task();
    absl::MutexLock lock(&mu_);
    running_cost_ -= cost;
  }
}

}  // namespace deadline

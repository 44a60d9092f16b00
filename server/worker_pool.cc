#include "server/worker_pool.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace deadline {

WorkerPool::WorkerPool(int workers, int max_queue) : max_queue_(max_queue) {
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

absl::StatusOr<WorkerPool::TaskId> WorkerPool::Submit(Task task) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(waiting_.size()) >= max_queue_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the work queue is full: ", waiting_.size(),
                     " calls are waiting for a worker, the most allowed "
                     "(--max_queue=",
                     max_queue_, ")"));
  }
  const TaskId id = next_back_++;
  waiting_.emplace(id, std::move(task));
  return id;
}

WorkerPool::TaskId WorkerPool::Resume(Task task) {
  absl::MutexLock lock(&mu_);
  const TaskId id = --next_front_;
  waiting_.emplace(id, std::move(task));
  return id;
}

bool WorkerPool::Remove(TaskId id) {
  Task removed;  // Destroyed outside the lock.
  absl::MutexLock lock(&mu_);
  const auto it = waiting_.find(id);
  if (it == waiting_.end()) return false;
  removed = std::move(it->second);
  waiting_.erase(it);
  return true;
}

int WorkerPool::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

void WorkerPool::Work() {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->waiting_.empty();
          },
          this));
      if (stopping_) return;
      task = std::move(waiting_.begin()->second);
      waiting_.erase(waiting_.begin());
    }
    task();
  }
}

}  // namespace deadline

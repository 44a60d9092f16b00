// The example backend: deadline.v1.Backend's Work on the callback API, doing
// slow work that stops when the call's deadline passes or its caller
// cancels. The smallest version of server/backend/backend_service.h; the
// pattern it applies is server/deadline/work_loop.h (the loop) and
// server/deadline/budget.h (when to stop).
#ifndef DEADLINE_EXAMPLES_CPP_BACKEND_H_
#define DEADLINE_EXAMPLES_CPP_BACKEND_H_

#include <functional>

#include "absl/time/time.h"
#include "proto/deadline.grpc.pb.h"
#include "server/deadline/budget.h"
#include "server/deadline/work_loop.h"
#include "server/deadline/worker_pool.h"

namespace deadline::example {

struct BackendOptions {
  // Threads that run the work; a call waits for one in a queue of at most
  // `max_queue` calls.
  int workers = 4;
  int max_queue = 64;
  // CPU-bound (WORK_KIND_SPIN) work checks its caller at least this often.
  absl::Duration check_interval = absl::Microseconds(500);
  // The work stops `reserve` (plus what the wire may have added to the
  // budget, see ArrivalSlack) before the call's deadline, so that the
  // answer reaches the caller before its own timer fires. A call without a
  // deadline gets `default_deadline`.
  BudgetOptions budget = [] {
    BudgetOptions budget;
    budget.reserve = absl::Milliseconds(2);
    budget.min_budget = absl::ZeroDuration();
    return budget;
  }();
  // For tests, called on the worker thread: after each finished step, and
  // once when the work stops, before the answer is sent.
  std::function<void(int steps_done)> on_step;
  std::function<void(const WorkResult&)> on_done;
};

// Work answers:
// - OK with every step done, and the budget the call had at arrival;
// - DEADLINE_EXCEEDED when the deadline (less the reserve) comes first,
//   CANCELLED when the caller cancels first (or the server shuts down),
//   each saying so with the steps done and the budget;
// - INVALID_ARGUMENT for out-of-range steps, step_duration or kind;
// - RESOURCE_EXHAUSTED at once when `max_queue` calls already wait, or when
//   the work queued ahead would keep the call from ending by its deadline.
// No reaction blocks: the work runs on the service's own threads, which
// Finish the call. A call still in the queue when its caller goes stays
// there; it ends, without work, once a worker takes it.
//
// Thread-safe. Shut the server down before destroying the service.
class BackendService final : public deadline::v1::Backend::CallbackService {
 public:
  explicit BackendService(BackendOptions options);

  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const deadline::v1::WorkRequest* request,
                                 deadline::v1::WorkReply* reply) override;

 private:
  class WorkCall;

  const BackendOptions options_;
  const BudgetPolicy policy_;
  WorkerPool workers_;  // Last: joined first, while the rest still lives.
};

}  // namespace deadline::example

#endif  // DEADLINE_EXAMPLES_CPP_BACKEND_H_

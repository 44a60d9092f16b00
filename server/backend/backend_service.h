#ifndef DEADLINE_SERVER_BACKEND_BACKEND_SERVICE_H_
#define DEADLINE_SERVER_BACKEND_BACKEND_SERVICE_H_

#include <atomic>

#include "common/clock.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend/backend_call.h"
#include "server/deadline/worker_pool.h"
#include "server/observability/call_stats.h"

namespace deadline {

// deadline.v1.Backend on the callback API: a call costs memory, not a
// thread. Each call is a reactor:
// - sleep-like work waits on a timer (Clock::RunAt), and OnCancel() ends it
//   the moment the caller goes;
// - CPU-bound work queues for a fixed pool of `options.workers` threads,
//   first in, first out; the loop calls ServerContext::IsCancelled() and
//   reads the clock at least every `options.check_interval`. A call whose
//   caller goes, or whose deadline passes, while it waits in the queue
//   leaves the queue at once, without doing a step; one that finds
//   `options.max_queue` calls waiting is refused at once with
//   RESOURCE_EXHAUSTED.
// No reaction blocks: every callback of the process shares gRPC's few
// callback threads.
//
// Work answers OK with the steps done and the budget at start;
// DEADLINE_EXCEEDED when the deadline (less the reserve; the default
// deadline when the caller set none, clamped to the maximum) passes, also
// at arrival, when no work is done; CANCELLED when the caller cancels or the
// server shuts down; INVALID_ARGUMENT for requests outside the limits;
// RESOURCE_EXHAUSTED when the queue is full. WorkStream ends the same ways,
// writing one WorkProgress per finished step, each only after the transport
// took the previous one, so a slow reader holds the work back instead of
// growing a buffer. Every call carries its BudgetTrace in trailing
// metadata, is counted in stats() and may be logged.
//
// The service takes its requests as bytes (gRPC's raw methods) and parses
// them itself, so that one which does not parse is answered
// INVALID_ARGUMENT, counted and logged like any bad request; gRPC would
// answer it alone, before any handler runs.
//
// Thread-safe. Shut the server down before destroying the service; the
// destructor waits until every call's reactor is gone.
class BackendService final
    : public deadline::v1::Backend::WithRawCallbackMethod_Work<
          deadline::v1::Backend::WithRawCallbackMethod_WorkStream<
              deadline::v1::Backend::WithRawCallbackMethod_Record<
                  deadline::v1::Backend::Service>>> {
 public:
  explicit BackendService(const BackendOptions& options,
                          Clock& clock = RealClock());
  ~BackendService() override;

  // A deadline.v1.WorkRequest in, a WorkReply out.
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* reply) override;

  // A WorkRequest in, WorkProgress messages out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WorkStream(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

  // An AuditRecord in, a RecordReply out: counted, never blocking.
  grpc::ServerUnaryReactor* Record(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* reply) override;

  // The counters, and the queue's depth now.
  StatsSnapshot stats() const;

  // See BackendCore::BeginShutdown().
  void BeginShutdown(absl::Time cancel_at) { core_.BeginShutdown(cancel_at); }

 private:
  template <typename GrpcReactor>
  class Reactor;
  class WorkReactor;
  class StreamReactor;

  BackendCore core_;
  WorkerPool workers_;
  // Reactors not yet destroyed.
  std::atomic<int> live_{0};
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_BACKEND_SERVICE_H_

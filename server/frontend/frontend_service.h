#ifndef DEADLINE_SERVER_FRONTEND_FRONTEND_SERVICE_H_
#define DEADLINE_SERVER_FRONTEND_FRONTEND_SERVICE_H_

#include <vector>

#include "common/clock.h"
#include "proto/deadline.grpc.pb.h"
#include "server/frontend/backend_channels.h"
#include "server/frontend/frontend.h"
#include "server/observability/call_stats.h"

namespace deadline {

// deadline.v1.Frontend on the callback API: no thread is held while a call
// waits for its backends, and no reaction blocks. Each method is a thin
// transport over one call core (FrontendCall): Fetch (fetch.h), FetchAll
// and hedged Fetch (fan_out_call.h), FetchStream (fetch_stream.h).
//
// Every call forwards its caller's budget less the reserve, or answers
// DEADLINE_EXCEEDED at once, without calling a backend, when too little is
// left (counted as rejected); INVALID_ARGUMENT, without calling a backend
// either, for a request that does not parse or asks for work outside the
// limits; RESOURCE_EXHAUSTED beyond max_in_flight; otherwise the backend's
// status with its code unchanged and a message that names this hop and its
// budget. An unreachable backend gives UNAVAILABLE at once. Every outcome
// carries a BudgetTrace (this hop, then each backend call) in trailing
// metadata, is counted in stats() and may be logged; the caller's
// x-request-id (or a new one) travels on to the backends.
//
// Requests are taken as bytes (gRPC's raw methods) and parsed here, so that
// one which does not parse is answered INVALID_ARGUMENT, counted and logged.
//
// Thread-safe. `clock` must outlive the service.
class FrontendService final
    : public deadline::v1::Frontend::WithRawCallbackMethod_Fetch<
          deadline::v1::Frontend::WithRawCallbackMethod_FetchAll<
              deadline::v1::Frontend::WithRawCallbackMethod_FetchStream<
                  deadline::v1::Frontend::Service>>> {
 public:
  // `backends`: one or more, as ParseBackends() makes them.
  FrontendService(const std::vector<BackendTarget>& backends,
                  const FrontendOptions& options, Clock& clock = RealClock());

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* reply) override;
  grpc::ServerUnaryReactor* FetchAll(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* reply) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* FetchStream(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

  // Call just before grpc::Server::Shutdown() (after any drain), which will
  // cancel the calls still in flight at `cancel_at`; calls cancelled from
  // then on say the server shut down. Backend calls made without
  // propagation are not tied to their caller, so nothing would ever stop
  // them: they are cancelled here, at once, so shutdown cannot wait on
  // them, and later ones start cancelled. Propagated calls are cancelled by
  // Shutdown()'s own deadline.
  void BeginShutdown(absl::Time cancel_at) {
    frontend_.BeginShutdown(cancel_at);
  }

  const CallStats& stats() const { return frontend_.sink().stats; }
  // The counters, with the audit records'.
  StatsSnapshot Snapshot() const;

  // Waits until no audit call is in flight, or until `until` (the end of
  // the shutdown grace); returns whether none is. Audits still in flight
  // when the service is destroyed are cancelled.
  bool WaitForAudits(absl::Time until);

 private:
  deadline::Frontend frontend_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FRONTEND_SERVICE_H_

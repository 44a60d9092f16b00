#ifndef DEADLINE_SERVER_FRONTEND_BACKEND_CONTEXTS_H_
#define DEADLINE_SERVER_FRONTEND_BACKEND_CONTEXTS_H_

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "server/deadline/propagation.h"

namespace deadline {

// Makes the contexts of the calls a frontend makes on behalf of the calls it
// serves: what they inherit from their caller. The pattern inherits (see
// ChildContext); THE ANTI-PATTERN (no_propagation.h) does not, and keeps
// its own books so that a shutdown can still stop those calls.
//
// Thread-safe.
class BackendContexts {
 public:
  // The contexts `propagation` asks for.
  static std::unique_ptr<BackendContexts> For(Propagation propagation);

  virtual ~BackendContexts() = default;

  // The context of one call made for `caller`, due at `deadline`. Never
  // use it once the caller's call has ended, nor start a call with it then.
  virtual std::unique_ptr<grpc::ClientContext> New(
      grpc::CallbackServerContext& caller, absl::Time deadline) = 0;
  // The call made with `context` (from New) has ended, or never started:
  // the context is about to go.
  virtual void Forget(grpc::ClientContext& context) = 0;
  // The server is shutting down: calls that nothing else would stop are
  // cancelled now, and later ones start cancelled.
  virtual void BeginShutdown() = 0;
  // Whether the calls get their caller's deadline (less the reserve).
  virtual bool forward_deadline() const = 0;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_BACKEND_CONTEXTS_H_

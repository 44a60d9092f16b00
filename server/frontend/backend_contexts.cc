#include "server/frontend/backend_contexts.h"

#include "server/frontend/no_propagation.h"

namespace deadline {
namespace {

// The pattern: each context is derived from its caller's (ChildContext),
// so gRPC itself ends the call when the caller's ends; nothing to track.
class Inherited final : public BackendContexts {
 public:
  explicit Inherited(Propagation propagation) : propagation_(propagation) {}

  std::unique_ptr<grpc::ClientContext> New(grpc::CallbackServerContext& caller,
                                           absl::Time deadline) override {
    return ChildContext(caller, deadline, propagation_);
  }
  void Forget(grpc::ClientContext&) override {}
  // The server's Shutdown() cancels the callers, and so these calls.
  void BeginShutdown() override {}
  bool forward_deadline() const override { return true; }

 private:
  const Propagation propagation_;
};

}  // namespace

std::unique_ptr<BackendContexts> BackendContexts::For(Propagation propagation) {
  if (propagation == Propagation::kNone) return UnpropagatedContexts();
  return std::make_unique<Inherited>(propagation);
}

}  // namespace deadline

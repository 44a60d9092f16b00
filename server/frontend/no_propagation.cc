#include "server/frontend/no_propagation.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace deadline {
namespace {

class Unpropagated final : public BackendContexts {
 public:
  std::unique_ptr<grpc::ClientContext> New(grpc::CallbackServerContext& caller,
                                           absl::Time deadline) override {
    std::unique_ptr<grpc::ClientContext> context =
        ChildContext(caller, deadline, Propagation::kNone);
    absl::MutexLock lock(&mu_);
    if (shutting_down_) context->TryCancel();
    live_.insert(context.get());
    return context;
  }

  void Forget(grpc::ClientContext& context) override {
    absl::MutexLock lock(&mu_);
    live_.erase(&context);
  }

  void BeginShutdown() override {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (grpc::ClientContext* context : live_) context->TryCancel();
  }

  bool forward_deadline() const override { return false; }

 private:
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<grpc::ClientContext*> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<BackendContexts> UnpropagatedContexts() {
  return std::make_unique<Unpropagated>();
}

}  // namespace deadline

// The example frontend's Fetch: plan the budget, fail fast or call the
// backend with a child context, finish from the call's completion callback.
// The full version, with fan-out, hedging, retries and traces, is
// server/frontend/fetch.cc over server/frontend/frontend_call.cc.
#include "examples/cpp/frontend.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "server/deadline/propagation.h"

namespace deadline::example {

using ::deadline::v1::FetchReply;
using ::deadline::v1::FetchRequest;

// One Fetch call. Lives until gRPC is done with it (OnDone), which is after
// the backend call's callback has finished it: the child context it owns is
// never used past its parent call.
class FrontendService::FetchCall final : public grpc::ServerUnaryReactor {
 public:
  FetchCall(FrontendService& service, grpc::CallbackServerContext& context,
            const FetchRequest& request, FetchReply& reply) {
    // From the caller's own deadline: never from a child context's
    // deadline(), which gRPC 1.51 reads as infinite.
    const Budget budget = service.policy_.Plan(DeadlineOf(context));
    if (budget.at_arrival != absl::InfiniteDuration()) {
      ToProtoDuration(budget.at_arrival, reply.mutable_budget_at_arrival());
    }
    if (budget.fail_fast) {
      Finish(grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrCat("frontend: ", service.policy_.ExplainFailFast(budget),
                       "; backend not called")));
      return;
    }
    ToProtoDuration(budget.forwarded, reply.mutable_budget_forwarded());
    story_ = absl::StrCat("frontend: ", FormatBudget(budget.at_arrival),
                          " at arrival, forwarded ",
                          FormatBudget(budget.forwarded), "; ");
    // Inherits the caller's deadline (made earlier here) and cancellation.
    backend_context_ = ChildContext(context, budget.forward_deadline);
    service.backend_->async()->Work(
        backend_context_.get(), &request.work(), reply.mutable_backend(),
        [this](grpc::Status status) {
          // Same code, whatever it is; the message says which hop did what.
          if (!status.ok()) {
            status = grpc::Status(status.error_code(),
                                  story_ + status.error_message());
          }
          Finish(status);  // `this` may be gone from here on.
        });
  }

 private:
  void OnDone() override { delete this; }

  std::string story_;
  std::unique_ptr<grpc::ClientContext> backend_context_;
};

FrontendService::FrontendService(const std::shared_ptr<grpc::Channel>& backend,
                                 const BudgetOptions& budget)
    : backend_(deadline::v1::Backend::NewStub(backend)),
      policy_(budget, RealClock()) {}

grpc::ServerUnaryReactor* FrontendService::Fetch(
    grpc::CallbackServerContext* context, const FetchRequest* request,
    FetchReply* reply) {
  return new FetchCall(*this, *context, *request, *reply);
}

}  // namespace deadline::example

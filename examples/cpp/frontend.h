// The example frontend: deadline.v1.Frontend's Fetch on the callback API,
// forwarding the caller's deadline, minus a reserve, and its cancellation to
// the backend. The smallest version of server/frontend/frontend_service.h;
// the pattern it applies is server/deadline/budget.h (how much to forward)
// and server/deadline/propagation.h (the backend call's context).
#ifndef DEADLINE_EXAMPLES_CPP_FRONTEND_H_
#define DEADLINE_EXAMPLES_CPP_FRONTEND_H_

#include <memory>

#include "grpcpp/channel.h"
#include "proto/deadline.grpc.pb.h"
#include "server/deadline/budget.h"

namespace deadline::example {

// Fetch plans the call's budget with BudgetPolicy from the caller's deadline
// (`budget.default_deadline` when it has none) and answers:
// - DEADLINE_EXCEEDED at once, without calling the backend, when less than
//   the reserve + min_budget is left, saying so;
// - otherwise what the backend answered, its reply and status code
//   unchanged (DEADLINE_EXCEEDED and CANCELLED included), an error's
//   message prefixed with this hop's budget.
// The backend call has the caller's deadline minus the reserve, and is
// cancelled when the caller cancels. No reaction blocks: the call is
// finished from the backend call's completion callback. The other methods
// answer UNIMPLEMENTED.
//
// Thread-safe. Shut the server down before destroying the service.
class FrontendService final : public deadline::v1::Frontend::CallbackService {
 public:
  FrontendService(const std::shared_ptr<grpc::Channel>& backend,
                  const BudgetOptions& budget);

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const deadline::v1::FetchRequest* request,
                                  deadline::v1::FetchReply* reply) override;

 private:
  class FetchCall;

  const std::unique_ptr<deadline::v1::Backend::Stub> backend_;
  const BudgetPolicy policy_;
};

}  // namespace deadline::example

#endif  // DEADLINE_EXAMPLES_CPP_FRONTEND_H_

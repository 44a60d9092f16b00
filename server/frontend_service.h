#ifndef DEADLINE_SERVER_FRONTEND_SERVICE_H_
#define DEADLINE_SERVER_FRONTEND_SERVICE_H_

#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "proto/deadline.grpc.pb.h"
#include "server/budget.h"
#include "server/call_stats.h"
#include "server/work_request.h"

namespace deadline {

// A channel to a backend at `target` ("host:port"), made for a middle tier:
// while the backend is down, calls fail at once with UNAVAILABLE (they do not
// wait for it: fail fast is the default), and reconnection attempts are at
// most 2 s apart, so service resumes soon after the backend is back.
std::shared_ptr<grpc::Channel> CreateBackendChannel(const std::string& target);

struct FrontendOptions {
  BudgetOptions budget;
  WorkLimits limits;
  // true: the backend call is a child of the incoming call
  // (ClientContext::FromCallbackServerContext), so it inherits the deadline
  // (shortened by the reserve) and the cancellation.
  // false: THE ANTI-PATTERN, kept to show what it costs: a fresh
  // ClientContext with no deadline and no link to the caller, the C++ twin of
  // context.Background() in a Go handler. The backend works on after the
  // caller has gone.
  bool propagate = true;
};

// deadline.v1.Frontend on the callback API: no thread is held while a call
// waits for the backend. Fetch plans the budget with BudgetPolicy, then calls
// Backend.Work through the async stub with the caller's deadline minus the
// reserve, and answers when the backend does.
//
// Fetch returns DEADLINE_EXCEEDED at once, without calling the backend, when
// too little budget is left (counted as rejected); INVALID_ARGUMENT for work
// outside `limits` (the backend is not called either); otherwise the
// backend's status, with its code unchanged and a message naming this hop and
// its budget. An unreachable backend gives UNAVAILABLE at once.
//
// Thread-safe. `clock` must outlive the service; the channel is shared.
class FrontendService final : public deadline::v1::Frontend::CallbackService {
 public:
  FrontendService(std::shared_ptr<grpc::ChannelInterface> backend,
                  const FrontendOptions& options, Clock& clock = RealClock());

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const deadline::v1::FetchRequest* request,
                                  deadline::v1::FetchReply* reply) override;

  // Call before grpc::Server::Shutdown(). Backend calls made with
  // propagate == false are not tied to their caller, so nothing would ever
  // stop them: they are cancelled here, at once, so shutdown cannot wait on
  // them. Propagated calls are cancelled by Shutdown()'s own deadline.
  void BeginShutdown();

  const CallStats& stats() const { return stats_; }

 private:
  class FetchReactor;

  // Tracking of unpropagated backend calls, for BeginShutdown().
  void Track(grpc::ClientContext* context);
  void Untrack(grpc::ClientContext* context);

  const std::unique_ptr<deadline::v1::Backend::Stub> backend_;
  const FrontendOptions options_;
  Clock& clock_;
  const BudgetPolicy policy_;
  CallStats stats_;

  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> unpropagated_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_SERVICE_H_

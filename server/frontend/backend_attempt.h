#ifndef DEADLINE_SERVER_FRONTEND_BACKEND_ATTEMPT_H_
#define DEADLINE_SERVER_FRONTEND_BACKEND_ATTEMPT_H_

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "proto/deadline.pb.h"
#include "server/frontend/frontend_call.h"

namespace deadline {

// One call of Backend.Work made for a frontend call, through the async
// stub: its context (made at once, so the call can be cancelled before it
// starts), its reply, and what this side saw of it.
//
// Start() once; Cancel() from any thread, also before or during Start();
// the rest once `ended` has run. `call` and the request must outlive it.
class BackendAttempt {
 public:
  explicit BackendAttempt(FrontendCall& call);
  BackendAttempt(const BackendAttempt&) = delete;
  BackendAttempt& operator=(const BackendAttempt&) = delete;

  // Sends `work` to the frontend's backend number `backend`; `ended` runs
  // once the call has ended, on a gRPC thread, and must not block.
  void Start(int backend, const deadline::v1::WorkRequest& work,
             absl::AnyInvocable<void()> ended);
  // Cancels the call for `cause` (in words, for the trace); it still ends.
  void Cancel(std::string cause);

  // How it ended. A reply that does not parse, or whose steps the request
  // does not allow, is not taken for an answer: the status is then
  // INTERNAL, naming the backend.
  const grpc::Status& status() const { return status_; }
  const deadline::v1::WorkReply& reply() const { return reply_; }
  absl::Time sent_at() const { return sent_at_; }
  absl::Time ended_at() const { return ended_at_; }
  // The backend's --backend name.
  const std::string& backend() const { return backend_; }
  // What this side saw of it, for FrontendCall::BackendHop().
  SeenBackendCall Seen(int panel = -1, bool hedge = false) const;

 private:
  void Ended(grpc::Status status);

  FrontendCall& call_;
  const BackendContext context_;
  const deadline::v1::WorkRequest* work_ = nullptr;
  absl::AnyInvocable<void()> ended_;
  grpc::ByteBuffer request_bytes_;
  grpc::ByteBuffer reply_bytes_;
  deadline::v1::WorkReply reply_;
  grpc::Status status_;
  std::string backend_;
  absl::Time sent_at_;
  absl::Time ended_at_;
  // Set before the context is cancelled, read once the call has ended.
  std::string cancelled_for_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_BACKEND_ATTEMPT_H_

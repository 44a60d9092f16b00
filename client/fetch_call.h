#ifndef DEADLINE_CLIENT_FETCH_CALL_H_
#define DEADLINE_CLIENT_FETCH_CALL_H_

#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/client_context.h"
#include "proto/deadline.grpc.pb.h"

namespace deadline {

struct FetchOutcome {
  grpc::Status status;
  deadline::v1::FetchReply reply;
  // From the start of the call to its completion, on the client.
  absl::Duration elapsed;
};

// One Frontend.Fetch call, started by the constructor through the async stub
// (the C++ twin of calling with ctx from context.WithDeadline): `deadline`
// is absolute, absl::InfiniteFuture() for none. Cancel() is the WithCancel
// twin. Thread-safe; `stub` and `clock` must outlive the call, and the
// destructor waits for the call to complete.
class FetchCall {
 public:
  FetchCall(deadline::v1::Frontend::StubInterface& stub,
            const deadline::v1::FetchRequest& request, absl::Time deadline,
            Clock& clock = RealClock());
  FetchCall(const FetchCall&) = delete;
  FetchCall& operator=(const FetchCall&) = delete;
  ~FetchCall() { Wait(); }

  // Cancels the call if it is still running: it ends with CANCELLED, and the
  // cancellation travels to every hop that propagates it. Any time, any
  // thread.
  void Cancel() { context_.TryCancel(); }

  // True once the call has completed, waiting at most `timeout`.
  bool WaitFor(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

  // Waits for completion.
  const FetchOutcome& Wait() {
    done_.WaitForNotification();
    return outcome_;
  }

 private:
  Clock& clock_;
  grpc::ClientContext context_;
  const deadline::v1::FetchRequest request_;
  const absl::Time start_;
  FetchOutcome outcome_;
  absl::Notification done_;
};

// A few lines for people: the status, the elapsed time and the budget each
// hop saw, e.g. "budgets: client 300ms -> frontend 299.6ms at arrival,
// forwarded 289.6ms -> backend 289.3ms at arrival".
std::string FormatOutcome(const FetchOutcome& outcome,
                          absl::Duration client_budget);

// One line of counters, e.g. "started 3, ok 1, deadline_exceeded 2, ...".
std::string FormatStats(const deadline::v1::StatsReply& stats);

// The client's exit status for a call that ended with `code`: 0 for OK,
// otherwise 10 + the gRPC code (e.g. 14 for DEADLINE_EXCEEDED, 11 for
// CANCELLED, 24 for UNAVAILABLE). 2 is kept for usage errors.
int ExitCodeFor(grpc::StatusCode code);

}  // namespace deadline

#endif  // DEADLINE_CLIENT_FETCH_CALL_H_

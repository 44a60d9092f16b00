#ifndef DEADLINE_CLIENT_CALLS_H_
#define DEADLINE_CLIENT_CALLS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/clock.h"
#include "common/deadline_at.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/client_context.h"
#include "proto/deadline.grpc.pb.h"

namespace deadline {

template <typename Reply>
struct CallOutcome {
  grpc::Status status;
  Reply reply;
  // When the call started, and how long it took, on the client.
  absl::Time start;
  absl::Duration elapsed;
  // The x-request-id sent, and the hops' story sent back (if any was).
  std::string request_id;
  absl::optional<deadline::v1::BudgetTrace> trace;
};

// One unary call in flight through the async stub, with a deadline (the
// C++ twin of calling with a ctx from context.WithDeadline), Cancel() (the
// WithCancel twin) and an x-request-id (a new one unless given).
// Thread-safe; the destructor waits for completion.
template <typename Request, typename Reply>
class UnaryCall {
 public:
  UnaryCall(const UnaryCall&) = delete;
  UnaryCall& operator=(const UnaryCall&) = delete;
  ~UnaryCall() { Wait(); }

  // Cancels the call if it is still running: it ends with CANCELLED, and the
  // cancellation travels to every hop that propagates it. Any time, any
  // thread.
  void Cancel() { context_.TryCancel(); }

  // True once the call has completed, waiting at most `timeout`.
  bool WaitFor(absl::Duration timeout) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }

  // Waits for completion.
  const CallOutcome<Reply>& Wait() {
    done_.WaitForNotification();
    return outcome_;
  }

 protected:
  using Start =
      absl::FunctionRef<void(grpc::ClientContext*, const Request*, Reply*,
                             std::function<void(grpc::Status)>)>;

  // `deadline` is absolute; absl::InfiniteFuture() for none.
  UnaryCall(const Request& request, absl::Time deadline,
            absl::string_view request_id, Clock& clock)
      : clock_(clock), request_(request), deadline_(deadline) {
    context_.set_deadline(ToGrpcDeadline(deadline));
    outcome_.request_id =
        request_id.empty() ? NewRequestId() : std::string(request_id);
    context_.AddMetadata(kRequestIdKey, outcome_.request_id);
    // This client shows every call's story, OK or not.
    WantTrace(context_);
  }

  // Starts the call; subclasses call it once, from their constructor.
  void Begin(Start start) {
    outcome_.start = clock_.Now();
    // Beside grpc-timeout, the deadline itself and the start: each hop can
    // then see how long the call took to reach it.
    SendDeadlineAt(context_, deadline_, outcome_.start);
    start(&context_, &request_, &outcome_.reply, [this](grpc::Status status) {
      outcome_.elapsed = clock_.Now() - outcome_.start;
      outcome_.status = std::move(status);
      outcome_.trace = TraceFrom(context_);
      done_.Notify();
    });
  }

 private:
  Clock& clock_;
  grpc::ClientContext context_;
  const Request request_;
  const absl::Time deadline_;
  CallOutcome<Reply> outcome_;
  absl::Notification done_;
};

using FetchOutcome = CallOutcome<deadline::v1::FetchReply>;
using FetchAllOutcome = CallOutcome<deadline::v1::FetchAllReply>;

// Frontend.Fetch, started by the constructor. `stub` must outlive the call.
class FetchCall final
    : public UnaryCall<deadline::v1::FetchRequest, deadline::v1::FetchReply> {
 public:
  FetchCall(deadline::v1::Frontend::StubInterface& stub,
            const deadline::v1::FetchRequest& request, absl::Time deadline,
            absl::string_view request_id = "", Clock& clock = RealClock());
};

// Frontend.FetchAll, started by the constructor. `stub` must outlive the
// call.
class FetchAllCall final : public UnaryCall<deadline::v1::FetchAllRequest,
                                            deadline::v1::FetchAllReply> {
 public:
  FetchAllCall(deadline::v1::Frontend::StubInterface& stub,
               const deadline::v1::FetchAllRequest& request,
               absl::Time deadline, absl::string_view request_id = "",
               Clock& clock = RealClock());
};

// A server stream of WorkProgress messages (Backend.WorkStream,
// Frontend.FetchStream), read on the calling thread, with a deadline that
// covers the whole stream and an x-request-id (a new one unless given).
// Cancel() may be called from any thread.
class ProgressStream {
 public:
  struct Outcome {
    grpc::Status status;
    int messages = 0;
    // True when the reader stopped at `max_messages` and cancelled.
    bool stopped_early = false;
    // When the stream started, and how long it took, on the client.
    absl::Time start;
    absl::Duration elapsed;
    // The x-request-id sent, and the hops' story sent back (if any was).
    std::string request_id;
    absl::optional<deadline::v1::BudgetTrace> trace;
  };

  ProgressStream(const ProgressStream&) = delete;
  ProgressStream& operator=(const ProgressStream&) = delete;
  virtual ~ProgressStream() = default;

  // Cancels the stream: it ends with CANCELLED, and the cancellation
  // travels to every hop that propagates it.
  void Cancel() { context_.TryCancel(); }

  // Reads messages, passing each to `on_message`, until the stream ends or
  // `max_messages` (0: no limit) have been read; in the latter case cancels
  // the stream, which stops the backend's work. Call once.
  Outcome Read(
      int max_messages,
      absl::FunctionRef<void(const deadline::v1::WorkProgress&)> on_message);

 protected:
  // `deadline` is absolute; absl::InfiniteFuture() for none.
  ProgressStream(absl::Time deadline, absl::string_view request_id);

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderInterface<deadline::v1::WorkProgress>>
      reader_;

 private:
  Outcome outcome_;
};

// Backend.WorkStream, started by the constructor. `stub` must outlive the
// call.
class WorkStreamCall final : public ProgressStream {
 public:
  WorkStreamCall(deadline::v1::Backend::StubInterface& stub,
                 const deadline::v1::WorkRequest& request, absl::Time deadline,
                 absl::string_view request_id = "");
};

// Frontend.FetchStream, started by the constructor. `stub` must outlive the
// call.
class FetchStreamCall final : public ProgressStream {
 public:
  FetchStreamCall(deadline::v1::Frontend::StubInterface& stub,
                  const deadline::v1::FetchRequest& request,
                  absl::Time deadline, absl::string_view request_id = "");
};

}  // namespace deadline

#endif  // DEADLINE_CLIENT_CALLS_H_

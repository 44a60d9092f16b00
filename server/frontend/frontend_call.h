#ifndef DEADLINE_SERVER_FRONTEND_FRONTEND_CALL_H_
#define DEADLINE_SERVER_FRONTEND_FRONTEND_CALL_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "proto/deadline.pb.h"
#include "server/deadline/budget.h"
#include "server/frontend/frontend.h"
#include "server/observability/hop_record.h"

namespace deadline {

// A backend call's context, which tells the frontend's BackendContexts when
// it goes (unless ForgetNow() did).
struct ForgetContext {
  BackendContexts* contexts;
  void operator()(grpc::ClientContext* context) const;
};
using BackendContext = std::unique_ptr<grpc::ClientContext, ForgetContext>;

// The call made with `context` has ended: tells the frontend now, so that
// the context may go later without it. For a reactor that may be deleted
// after its server has shut down and its frontend is gone (one whose last
// hold is a client-side reaction).
void ForgetNow(BackendContext& context);

// What this side saw of one call to a backend, once it ended.
struct SeenBackendCall {
  const grpc::ClientContext* context;
  grpc::Status status;
  absl::string_view backend;  // Its --backend name.
  absl::Time sent_at;
  absl::Time ended_at;
  int steps_requested = 0;
  // Steps done as this side saw them: the reply's, or the messages read.
  int steps_seen = 0;
  // Why this side cancelled the call, if it did (empty: it did not).
  std::string cancelled_for;
  int panel = -1;  // Of a FetchAll; -1 for none.
  bool hedge = false;
};

// How a call's backend calls ended, for the call's own ending.
struct BackendOutcome {
  // This hop's account for the message; empty: Summary().
  std::string summary;
  // OK, or the failure to pass on: its code unchanged, its message saying
  // which backend call failed and what it said (see BackendMessage()).
  absl::Status status;
  // The failure in a few words, for the record ("backend failed:
  // DEADLINE_EXCEEDED").
  std::string stop;
  int64_t steps_done = 0;
  // A backend call ended DEADLINE_EXCEEDED: how late the answer is counts
  // from the forward deadline.
  bool hit_deadline = false;
  // Whether the backend calls stop when the caller goes, and how the
  // message says so.
  bool stop_with_caller = true;
  absl::string_view stopped = "the backend calls were stopped";
};

// One call the frontend serves, whatever its method and transport: the
// story every frontend call tells, written once. It admits the call and
// plans its budget, makes the contexts of its backend calls, records what
// each of them did, knows when and why the caller went, and ends the call
// once, with a status whose message names this hop and its budget and a
// BudgetTrace in trailing metadata. The transport (a unary or a write
// reactor) makes the backend calls, hands their outcome here, and finishes
// with the status End() or Conclude() returns.
//
// Not thread-safe, except CallerGone(), CallerGoneAt() and BackendHop(),
// which backend calls ending at once may call together: otherwise one
// thread at a time, as a reactor's reactions and its backend calls'
// completions follow one another. `frontend` and `caller` must outlive it.
class FrontendCall {
 public:
  // The call arrives now; `method` is a literal ("Fetch").
  FrontendCall(Frontend& frontend, grpc::CallbackServerContext& caller,
               absl::string_view method);
  FrontendCall(const FrontendCall&) = delete;
  FrontendCall& operator=(const FrontendCall&) = delete;

  // Admits the call or ends it at once, in this order: a request that did
  // not arrive whole (`received`, with its code); too many calls in flight
  // (RESOURCE_EXHAUSTED); a request outside the limits (`valid`,
  // INVALID_ARGUMENT); too little budget left (DEADLINE_EXCEEDED, no backend
  // called). `steps`: the work requested, for the record; `cap`: this
  // method's own limit on a call's length (BudgetPolicy::Plan). Returns
  // whether the call may go on; if not, finish with status().
  bool Admit(const absl::Status& received, int64_t steps,
             const absl::Status& valid,
             absl::Duration cap = absl::InfiniteDuration());

  const Budget& budget() const { return budget_; }
  Frontend& frontend() const { return frontend_; }
  // Whether the backend calls get the caller's deadline (less the reserve).
  bool forwards_deadline() const {
    return frontend_.contexts().forward_deadline();
  }

  // A context for one backend call made for this call: its deadline the
  // budget's forward deadline, with the request id and, if the caller asked
  // for the trace of an OK call, the same request. Never use it, nor start a
  // call with it, once this call has ended.
  BackendContext NewBackendContext();
  // Adds to a backend call about to start, at `now`, what its backend plans
  // from beside grpc-timeout: deadline-at the forward deadline (when the
  // backend calls get one) and deadline-sent-at `now`.
  void Stamp(grpc::ClientContext& context, absl::Time now);
  // Counts `waiting` as time spent waiting on backend calls.
  void AddWaiting(absl::Duration waiting) { record_.AddWaiting(waiting); }
  // What a backend call did: the backend's own account from its trailers,
  // or, when it sent none, what this side saw. Made in the record's arena;
  // AddBackendHop() hands it to the record.
  deadline::v1::HopTrace* BackendHop(const SeenBackendCall& call);
  void AddBackendHop(deadline::v1::HopTrace* hop) { record_.AddCalledHop(hop); }
  // Whether the caller asked for the trace of an OK call too.
  bool trace_wanted() const { return trace_wanted_; }

  // The caller has gone (it cancelled, its deadline passed, the server is
  // shutting down, or it took no more messages) at `at`. The first counts.
  // Thread-safe.
  void CallerGone(absl::Time at);
  // When the caller went, if it has: as told, or as its context says now.
  // Thread-safe.
  absl::optional<absl::Time> CallerGoneAt();
  // Why a caller that went at `gone` went: "the server shut down" once the
  // shutdown's cancel time had come, else "the caller went away".
  absl::string_view GoneCause(absl::Time gone) const;

  // "frontend: 300ms at arrival, forwarded 290ms", for messages, with
  // `lead` after "frontend: ".
  std::string Summary(absl::string_view lead = "") const;

  // Ends the call once its backend calls have ended with `outcome`: when
  // the caller has gone, as what the caller saw (CANCELLED, or
  // DEADLINE_EXCEEDED at its deadline within kClockTolerance), whatever the
  // backends answered; otherwise OK, or the failure with its code unchanged
  // and a message that starts with outcome.summary.
  const absl::Status& Conclude(const BackendOutcome& outcome);
  // Ends the call with `ending` (counted, logged, traced): the one way out.
  // Only the first End() or Conclude() counts; returns the status to
  // finish with, and attaches the trace for it.
  const absl::Status& End(HopEnding ending);
  const absl::Status& status() const { return status_; }

  // Records a Fetch's outcome with the frontend's auditor, if it has one.
  // Call after End(), before the call finishes: the caller's context is
  // read here, never later.
  void Audit();

 private:
  // Where most of a late call's time went, by `now`, from the parts each
  // hop recorded ("; most of the time: backend 10.0.0.2:7001: 85.2ms
  // working"); empty when none did.
  std::string LargestShare(absl::Time now) const;

  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  Frontend& frontend_;
  grpc::CallbackServerContext& caller_;
  HopRecord record_;
  const bool trace_wanted_;
  Budget budget_;
  absl::Status status_;
  std::atomic<int64_t> caller_gone_at_{kNever};
};

// How a call whose caller went counts, decided in plain C++ (the same rules
// as the backend's BackendCall::End()):
// - the code, for a call that ends at `now` for a caller with `deadline`:
//   DEADLINE_EXCEEDED once the deadline had come (within kClockTolerance:
//   gRPC cancels a call at its deadline too), else CANCELLED;
absl::StatusCode GoneCallerCode(absl::Time now, absl::Time deadline);
// - why the caller went, if it went at `gone`: "the server shut down" once
//   the server's cancel time `shutdown_at` had come, else "the caller went
//   away".
absl::string_view WhyCallerWent(absl::Time gone, absl::Time shutdown_at);

// Parses `bytes` as the deadline.v1.FetchRequest of `call` (Fetch and
// FetchStream) into `request`, and admits the call (FrontendCall::Admit),
// its work checked against the frontend's limits; `cap` as there.
bool AdmitFetchRequest(FrontendCall& call, const grpc::ByteBuffer& bytes,
                       deadline::v1::FetchRequest& request,
                       absl::Duration cap = absl::InfiniteDuration());

// Fills a reply's budget_at_arrival (when the caller set a deadline) and
// budget_forwarded (when the backend calls get one) from `call`'s budget.
template <typename Reply>
void FillBudget(const FrontendCall& call, Reply& reply) {
  const Budget& budget = call.budget();
  if (budget.at_arrival != absl::InfiniteDuration()) {
    ToProtoDuration(budget.at_arrival, reply.mutable_budget_at_arrival());
  }
  if (call.forwards_deadline()) {
    ToProtoDuration(budget.forwarded, reply.mutable_budget_forwarded());
  }
}

// The message of a backend call that failed: the backend's own (it names
// itself), or what this side saw when the backend did not answer ("backend
// call: Deadline Exceeded"). Bounded, so this hop's own answer fits.
std::string BackendMessage(const grpc::Status& status);

// A status code's name: "DEADLINE_EXCEEDED".
std::string CodeName(grpc::StatusCode code);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FRONTEND_CALL_H_

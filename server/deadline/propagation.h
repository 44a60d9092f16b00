#ifndef DEADLINE_SERVER_DEADLINE_PROPAGATION_H_
#define DEADLINE_SERVER_DEADLINE_PROPAGATION_H_

#include <memory>

#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "server/deadline/budget.h"

namespace deadline {

// What a call made on behalf of an incoming call inherits from it.
enum class Propagation {
  // The default, Go's r.Context() as the parent: the caller's deadline
  // (or an earlier one) and its cancellation.
  kDeadlineAndCancellation,
  // The deadline only: the call is not torn down when the caller cancels,
  // yet gets no more time than the caller had.
  kDeadlineOnly,
  // The cancellation only: the call has a deadline of its own, but the
  // caller going away stops it.
  kCancellationOnly,
  // THE ANTI-PATTERN, the twin of context.Background() in a Go handler: a
  // fresh context with neither, so the work goes on for nobody.
  kNone,
};

// The context for one call made on behalf of `caller`, whose own deadline is
// `deadline`; with deadline propagation, gRPC gives the call the earlier of
// that and the caller's. With cancellation propagation, the call is also
// cancelled when the caller's call ends, for whatever reason: never use the
// context after that, nor start a call with it then.
//
// gRPC 1.51 quirk (grpc/grpc#12655): a context fresh from
// FromCallbackServerContext() reads deadline() as time_point::max(), though
// the inherited deadline applies on the wire. This function always sets
// `deadline` as well, so deadline() reads that; either way, budgets are
// computed from the caller's deadline, never from a child's deadline().
// What the call `caller` brings about its deadline: gRPC's relative one,
// and the caller's absolute deadline entries (common/deadline_at.h), for
// BudgetPolicy::Plan().
CallerDeadline CallerDeadlineOf(const grpc::ServerContextBase& caller);

// Adds to a call about to start the absolute deadline entries a callee
// plans from: deadline-at `deadline` (none when InfiniteFuture()), and
// deadline-sent-at now, by `clock`.
void StampDeadlineAt(grpc::ClientContext& call, absl::Time deadline,
                     Clock& clock);

std::unique_ptr<grpc::ClientContext> ChildContext(
    grpc::CallbackServerContext& caller, absl::Time deadline,
    Propagation propagation = Propagation::kDeadlineAndCancellation);

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_PROPAGATION_H_

#ifndef DEADLINE_SERVER_BACKEND_BEHAVIOR_H_
#define DEADLINE_SERVER_BACKEND_BEHAVIOR_H_

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/deadline/work_loop.h"

namespace deadline {

// The three points where the backend's teaching and testing flags change
// what a call does. The pattern itself is BackendBehavior::Pattern(); each
// flag wraps it in a piece of its own (fail_rate.h, ignore_cancel.h), so
// the code a team copies never asks which flag is on.
//
// Implementations are thread-safe, stateless per call, and quick: they run
// on every call's path.
class BackendBehavior {
 public:
  virtual ~BackendBehavior() = default;

  // Whether a valid call may start: OK, or the status that refuses it at
  // once, before any work.
  virtual absl::Status Admit() const = 0;
  // When a call's work must stop, given the time its budget planned.
  virtual absl::Time StopAt(absl::Time planned) const = 0;
  // What the work asks about its caller (is it gone? wait for it), given
  // the call's own view: for the pattern, that view itself.
  virtual Caller& Heard(Caller& caller) const = 0;

  // The pattern: every call is admitted, stops at its planned time, and
  // heeds its caller. Never destroyed.
  static const BackendBehavior& Pattern();
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_BEHAVIOR_H_

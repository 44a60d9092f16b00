#ifndef DEADLINE_SERVER_BACKEND_IGNORE_CANCEL_H_
#define DEADLINE_SERVER_BACKEND_IGNORE_CANCEL_H_

#include <memory>

#include "common/clock.h"
#include "server/backend/behavior.h"

namespace deadline {

// AN ANTI-PATTERN, for teaching and benchmarks (backend --ignore_cancel):
// the work never checks its caller or its deadline, so every admitted call
// runs all its steps. The cancellation still arrives, and the call's record
// notes when (see WorkStop::cancel_heard_at), so the wasted work shows in
// the trace and the metrics. Propagation then saves nothing: checking is
// the half that does the work.
//
// `inner` must outlive the result; `clock` times the work's waits.
std::unique_ptr<BackendBehavior> IgnoreCancel(const BackendBehavior& inner,
                                              Clock& clock);

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_IGNORE_CANCEL_H_

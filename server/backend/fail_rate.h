#ifndef DEADLINE_SERVER_BACKEND_FAIL_RATE_H_
#define DEADLINE_SERVER_BACKEND_FAIL_RATE_H_

#include <memory>

#include "server/backend/behavior.h"

namespace deadline {

// A TEST AID (backend --fail_rate): `inner`, except that a share `rate`
// (0 to 1) of calls, drawn at random, is refused UNAVAILABLE at once, before
// any work, as a backend that refuses would; gRPC's retry policy resends
// exactly such calls. `inner` must outlive the result.
std::unique_ptr<BackendBehavior> FailSome(double rate,
                                          const BackendBehavior& inner);

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_FAIL_RATE_H_

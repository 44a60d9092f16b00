#ifndef DEADLINE_SERVER_FRONTEND_NO_PROPAGATION_H_
#define DEADLINE_SERVER_FRONTEND_NO_PROPAGATION_H_

#include <memory>

#include "server/frontend/backend_contexts.h"

namespace deadline {

// THE ANTI-PATTERN (frontend --propagation=off), kept to show what it
// costs: the twin of context.Background() in a Go handler. Every backend
// call gets a fresh context, with neither its caller's deadline nor its
// cancellation, so the backend works on after the caller has gone.
//
// Nothing ties such a call to anything the server stops, so these contexts
// are tracked from New() to Forget(), and BeginShutdown() cancels them
// (and every later one at once): a shutdown cannot wait on them.
std::unique_ptr<BackendContexts> UnpropagatedContexts();

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_NO_PROPAGATION_H_

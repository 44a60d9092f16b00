#ifndef DEADLINE_SERVER_FAN_OUT_H_
#define DEADLINE_SERVER_FAN_OUT_H_

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace deadline {

enum class FanOutPolicy {
  // errgroup: the first failure cancels the siblings and is the result.
  kAllOrNothing,
  // Every sub-call runs to its own end; the whole succeeds.
  kPartial,
};

// Bookkeeping for `size` concurrent sub-calls of one call: says when to
// cancel the siblings and when the last one is in, and keeps the result.
// Knows nothing of gRPC. Thread-safe.
//
// Each sub-call, when it ends, calls Record() and then Arrive(), in that
// order. The last Arrive() may lead its caller to destroy whatever owns the
// group, so after an Arrive() that returned false the caller must touch
// neither the group nor anything it shares with the other sub-calls.
class FanOutGroup {
 public:
  FanOutGroup(int size, FanOutPolicy policy) : left_(size), policy_(policy) {}

  // Records how sub-call `index` ended. Returns true, under kAllOrNothing
  // and for the first failure only, when the caller must cancel every other
  // sub-call now.
  bool Record(int index, const absl::Status& status);

  // Counts one sub-call as done; true for the last one: the whole call can
  // answer.
  bool Arrive();

  // Once every sub-call is done: OK under kPartial; under kAllOrNothing OK
  // or the first failure's status.
  absl::Status status() const;
  // The index of the first failed sub-call, or -1.
  int first_failure() const;

 private:
  mutable absl::Mutex mu_;
  int left_ ABSL_GUARDED_BY(mu_);
  int first_failure_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Status first_status_ ABSL_GUARDED_BY(mu_);
  const FanOutPolicy policy_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FAN_OUT_H_

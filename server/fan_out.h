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
class FanOutGroup {
 public:
  FanOutGroup(int size, FanOutPolicy policy) : left_(size), policy_(policy) {}

  struct Step {
    // Under kAllOrNothing, true for the first failure only: cancel every
    // other sub-call now.
    bool cancel_siblings = false;
    // True for the last sub-call to end: the whole call can answer.
    bool last = false;
  };

  // Records that sub-call `index` ended with `status`. Call once per
  // sub-call.
  Step Done(int index, const absl::Status& status);

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

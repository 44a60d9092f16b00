#include "server/fan_out.h"

namespace deadline {

FanOutGroup::Step FanOutGroup::Done(int index, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  Step step;
  if (!status.ok() && first_failure_ < 0) {
    first_failure_ = index;
    first_status_ = status;
    step.cancel_siblings = policy_ == FanOutPolicy::kAllOrNothing;
  }
  step.last = --left_ == 0;
  return step;
}

absl::Status FanOutGroup::status() const {
  absl::MutexLock lock(&mu_);
  if (policy_ == FanOutPolicy::kPartial) return absl::OkStatus();
  return first_status_;
}

int FanOutGroup::first_failure() const {
  absl::MutexLock lock(&mu_);
  return first_failure_;
}

}  // namespace deadline

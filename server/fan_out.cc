#include "server/fan_out.h"

namespace deadline {

bool FanOutGroup::Record(int index, const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (status.ok() || first_failure_ >= 0) return false;
  first_failure_ = index;
  first_status_ = status;
  return policy_ == FanOutPolicy::kAllOrNothing;
}

bool FanOutGroup::Arrive() {
  absl::MutexLock lock(&mu_);
  return --left_ == 0;
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

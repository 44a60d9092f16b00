#include "server/backend/ignore_cancel.h"

#include "absl/synchronization/notification.h"

namespace deadline {
namespace {

// A caller that never says it has gone, and waits out every wait.
class DeafCaller final : public Caller {
 public:
  explicit DeafCaller(Clock& clock) : clock_(clock) {}

  bool IsCancelled() override { return false; }
  void WaitUntil(absl::Time until) override {
    static const absl::Notification never;
    clock_.SleepUntil(until, never);
  }

 private:
  Clock& clock_;
};

class IgnoringCancel final : public BackendBehavior {
 public:
  IgnoringCancel(const BackendBehavior& inner, Clock& clock)
      : inner_(inner), deaf_(clock) {}

  absl::Status Admit() const override { return inner_.Admit(); }
  // The deadline is not heeded either: the work runs to its end.
  absl::Time StopAt(absl::Time) const override {
    return absl::InfiniteFuture();
  }
  // Every call shares the one deaf caller: it holds nothing of a call.
  Caller& Heard(Caller&) const override { return deaf_; }

 private:
  const BackendBehavior& inner_;
  mutable DeafCaller deaf_;
};

}  // namespace

std::unique_ptr<BackendBehavior> IgnoreCancel(const BackendBehavior& inner,
                                              Clock& clock) {
  return std::make_unique<IgnoringCancel>(inner, clock);
}

}  // namespace deadline

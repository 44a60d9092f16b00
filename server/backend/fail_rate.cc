#include "server/backend/fail_rate.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace deadline {
namespace {

class FailingSome final : public BackendBehavior {
 public:
  FailingSome(double rate, const BackendBehavior& inner)
      : rate_(rate), inner_(inner) {}

  absl::Status Admit() const override {
    // A uniform draw in [0, 1), one generator per thread.
    thread_local std::mt19937_64 engine(std::random_device{}());
    if (std::uniform_real_distribution<double>(0, 1)(engine) < rate_) {
      return absl::UnavailableError(absl::StrCat(
          "refused on purpose, before any work (--fail_rate=", rate_,
          ", a test aid)"));
    }
    return inner_.Admit();
  }
  absl::Time StopAt(absl::Time planned) const override {
    return inner_.StopAt(planned);
  }
  Caller& Heard(Caller& caller) const override { return inner_.Heard(caller); }

 private:
  const double rate_;
  const BackendBehavior& inner_;
};

}  // namespace

std::unique_ptr<BackendBehavior> FailSome(double rate,
                                          const BackendBehavior& inner) {
  return std::make_unique<FailingSome>(rate, inner);
}

}  // namespace deadline

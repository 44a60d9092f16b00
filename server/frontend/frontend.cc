#include "server/frontend/frontend.h"

#include "absl/strings/str_cat.h"

namespace deadline {

absl::StatusOr<absl::Duration> ParseMaxStreamDuration(
    absl::Duration flag, const BudgetOptions& budget) {
  if (flag == absl::ZeroDuration() || flag == absl::InfiniteDuration()) {
    return absl::InfiniteDuration();
  }
  const absl::Duration least = budget.reserve + budget.min_budget;
  if (flag <= least) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_stream_duration must be 0 (off), inf (off), or more than "
        "--reserve + --min_budget (",
        absl::FormatDuration(least), "), got ", absl::FormatDuration(flag)));
  }
  return flag;
}

Frontend::Frontend(const std::vector<BackendTarget>& backends,
                   const FrontendOptions& options, Clock& clock)
    : options_(options),
      clock_(clock),
      policy_(options.budget, clock),
      contexts_(BackendContexts::For(options.propagation)) {
  sink_.log = options.log;
  sink_.on_call_end = options.on_call_end;
  sink_.observer = options.observer;
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.backend_credentials != nullptr
          ? options.backend_credentials
          : grpc::InsecureChannelCredentials();
  for (const BackendTarget& target : backends) {
    auto channel = CreateBackendChannel(target, options.channels, credentials);
    channel->GetState(/*try_to_connect=*/true);
    backends_.push_back({target.name, deadline::v1::Backend::NewStub(channel),
                         std::make_unique<grpc::GenericStub>(channel)});
  }
  if (options.audit != AuditMode::kOff) {
    auditor_ =
        std::make_unique<Auditor>(*backends_[0].raw, options.audit,
                                  options.audit_deadline, options.log, clock);
  }
}

Frontend::~Frontend() = default;

void Frontend::BeginShutdown(absl::Time cancel_at) {
  shutdown_cancels_at_.store(absl::ToUnixNanos(cancel_at));
  contexts_->BeginShutdown();
}

}  // namespace deadline

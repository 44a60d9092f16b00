#include "client/fetch_call.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace deadline {

FetchCall::FetchCall(deadline::v1::Frontend::StubInterface& stub,
                     const deadline::v1::FetchRequest& request,
                     absl::Time deadline, Clock& clock)
    : clock_(clock), request_(request), start_(clock.Now()) {
  context_.set_deadline(ToGrpcDeadline(deadline));
  stub.async()->Fetch(&context_, &request_, &outcome_.reply,
                      [this](grpc::Status status) {
                        outcome_.status = std::move(status);
                        outcome_.elapsed = clock_.Now() - start_;
                        done_.Notify();
                      });
}

std::string FormatOutcome(const FetchOutcome& outcome,
                          absl::Duration client_budget) {
  const auto code = static_cast<absl::StatusCode>(outcome.status.error_code());
  std::string text = absl::StrCat("status:  ", absl::StatusCodeToString(code));
  if (!outcome.status.ok()) {
    absl::StrAppend(&text, ": ", outcome.status.error_message());
  }
  absl::StrAppend(&text, "\nelapsed: ", FormatBudget(outcome.elapsed),
                  "\nbudgets: client ", FormatBudget(client_budget));
  const deadline::v1::FetchReply& reply = outcome.reply;
  const auto budget = [](bool has, const google::protobuf::Duration& d) {
    if (!has) return std::string("no deadline");
    absl::StatusOr<absl::Duration> parsed = FromProtoDuration(d, "budget");
    return parsed.ok() ? FormatBudget(*parsed) : std::string("?");
  };
  if (outcome.status.ok()) {
    absl::StrAppend(
        &text, " -> frontend ",
        budget(reply.has_budget_at_start(), reply.budget_at_start()),
        " at arrival, forwarded ",
        budget(reply.has_budget_forwarded(), reply.budget_forwarded()),
        " -> backend ",
        budget(reply.backend().has_budget_at_start(),
               reply.backend().budget_at_start()),
        " at arrival, ", reply.backend().steps_done(), " steps done");
  } else {
    absl::StrAppend(&text, " (the hops' budgets are in the status message)");
  }
  return absl::StrCat(text, "\n");
}

std::string FormatStats(const deadline::v1::StatsReply& s) {
  absl::StatusOr<absl::Duration> stop =
      FromProtoDuration(s.max_stop_latency(), "max_stop_latency");
  return absl::StrCat(
      "started ", s.calls_started(), ", ok ", s.calls_ok(),
      ", deadline_exceeded ", s.calls_deadline_exceeded(), ", cancelled ",
      s.calls_cancelled(), ", rejected ", s.calls_rejected(), ", invalid ",
      s.calls_invalid(), ", failed ", s.calls_failed(), ", in_flight ",
      s.calls_in_flight(), ", steps_done ", s.steps_done(),
      ", max_stop_latency ", stop.ok() ? FormatBudget(*stop) : "?", "\n");
}

int ExitCodeFor(grpc::StatusCode code) {
  return code == grpc::StatusCode::OK ? 0 : 10 + static_cast<int>(code);
}

}  // namespace deadline

#include "client/report.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/printable.h"
#include "common/time_util.h"

namespace deadline {
namespace {

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string Header(const grpc::Status& status, absl::Duration elapsed,
                   absl::Duration client_budget) {
  std::string text = absl::StrCat("status:  ", CodeName(status.error_code()));
  if (!status.ok()) {
    absl::StrAppend(&text, ": ", Printable(status.error_message()));
  }
  absl::StrAppend(&text, "\nelapsed: ", FormatBudget(elapsed),
                  "\nbudgets: client ", FormatBudget(client_budget));
  return text;
}

template <typename Reply>
std::string FrontendBudgets(const Reply& reply) {
  return absl::StrCat(" -> frontend ",
                      FormatBudgetField(reply.has_budget_at_arrival(),
                                        reply.budget_at_arrival()),
                      " at arrival, forwarded ",
                      FormatBudgetField(reply.has_budget_forwarded(),
                                        reply.budget_forwarded()));
}

}  // namespace

std::string FormatOutcome(const FetchOutcome& outcome,
                          absl::Duration client_budget) {
  std::string text = Header(outcome.status, outcome.elapsed, client_budget);
  if (!outcome.status.ok()) return absl::StrCat(text, "\n");
  const deadline::v1::WorkReply& backend = outcome.reply.backend();
  return absl::StrCat(text, FrontendBudgets(outcome.reply), " -> backend ",
                      FormatBudgetField(backend.has_budget_at_arrival(),
                                        backend.budget_at_arrival()),
                      " at arrival, ", backend.steps_done(), " steps done\n");
}

std::string FormatFanOut(const FetchAllOutcome& outcome,
                         absl::Duration client_budget) {
  std::string text = Header(outcome.status, outcome.elapsed, client_budget);
  if (!outcome.status.ok()) return absl::StrCat(text, "\n");
  absl::StrAppend(&text, FrontendBudgets(outcome.reply), "\n");
  for (const deadline::v1::PanelResult& panel : outcome.reply.panels()) {
    absl::StrAppend(&text, "panel ", panel.index(), " (",
                    Printable(panel.backend()), "): ", CodeName(panel.code()),
                    ", ", panel.reply().steps_done(), " steps in ",
                    FormatBudgetField(true, panel.elapsed()), " (given ",
                    FormatBudgetField(panel.has_budget_forwarded(),
                                      panel.budget_forwarded()),
                    ")");
    if (panel.code() != 0) {
      absl::StrAppend(&text, ": ", Printable(panel.message()));
    }
    absl::StrAppend(&text, "\n");
  }
  return text;
}

std::string FormatProgress(const deadline::v1::WorkProgress& progress) {
  return absl::StrCat(
      "step ", progress.step(), ": ",
      FormatBudgetField(true, progress.elapsed()), " elapsed, ",
      FormatBudgetField(progress.has_time_left(), progress.time_left()),
      progress.has_time_left() ? " left\n" : "\n");
}

std::string FormatStats(const deadline::v1::StatsReply& s) {
  return absl::StrCat(
      "started ", s.calls_started(), ", ok ", s.calls_ok(),
      ", deadline_exceeded ", s.calls_deadline_exceeded(), ", cancelled ",
      s.calls_cancelled(), ", rejected ", s.calls_rejected(), ", invalid ",
      s.calls_invalid(), ", failed ", s.calls_failed(), ", in_flight ",
      s.calls_in_flight(), ", overloaded ", s.calls_overloaded(), ", shed ",
      s.calls_shed(), ", queue_depth ", s.queue_depth(), ", steps_done ",
      s.steps_done(), ", max_stop_latency ",
      FormatBudgetField(true, s.max_stop_latency()), ", records ", s.records(),
      ", records_failed ", s.records_failed(), "\n");
}

int ExitCodeFor(grpc::StatusCode code) {
  return code == grpc::StatusCode::OK ? 0 : 10 + static_cast<int>(code);
}

}  // namespace deadline

#include "bench/hostile_peer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"

namespace deadline::bench {

using google::protobuf::Struct;
using google::protobuf::Value;

bool CanRunHostilePeer(const HostilePeerCommand& command) {
  if (command.python.empty() || command.script.empty()) return false;
  if (access(command.python.c_str(), X_OK) != 0 ||
      access(command.script.c_str(), R_OK) != 0) {
    return false;
  }
  auto probe = testing::Subprocess::Start(
      {command.python, "-c", "import h2, hpack, hyperframe"});
  if (probe == nullptr) return false;
  const absl::optional<int> status = probe->Wait(absl::Seconds(30));
  return status.has_value() && *status == 0;
}

std::unique_ptr<HostilePeer> HostilePeer::Start(
    const HostilePeerCommand& command, const std::string& target,
    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {command.python, command.script,
                                   absl::StrCat("--target=", target)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = testing::Subprocess::Start(argv);
  if (process == nullptr) return nullptr;
  return std::unique_ptr<HostilePeer>(new HostilePeer(std::move(process)));
}

bool HostilePeer::WaitUntilHolding(absl::Duration timeout) {
  const absl::optional<std::string> line =
      process_->WaitForLine("h2flood: ", timeout);
  return line.has_value() && line->find("holding") != std::string::npos;
}

bool HostilePeer::WaitFor(absl::Duration timeout) {
  if (ended_) return true;
  const absl::optional<int> status = process_->Wait(timeout);
  if (!status.has_value()) return false;
  ended_ = true;
  exit_status_ = *status;
  return true;
}

absl::StatusOr<Struct> HostilePeer::Report() {
  if (!WaitFor(absl::ZeroDuration())) {
    return absl::FailedPreconditionError("h2flood.py is still running");
  }
  const std::string& output = process_->output();
  // The report is the last line that is a JSON object.
  std::string json;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!line.empty() && line.front() == '{') json = std::string(line);
  }
  Struct report;
  if (exit_status_ != 0 || json.empty() ||
      !google::protobuf::util::JsonStringToMessage(json, &report).ok()) {
    return absl::InternalError(absl::StrCat("h2flood.py exited ", exit_status_,
                                            " without a report: ", output));
  }
  if (report.fields().count("error") != 0) {
    return absl::InternalError(absl::StrCat(
        "h2flood.py: ", report.fields().at("error").string_value()));
  }
  return report;
}

namespace {

const Value* Find(const Struct& report, absl::string_view path) {
  const Struct* level = &report;
  const Value* value = nullptr;
  for (absl::string_view key : absl::StrSplit(path, '.')) {
    if (level == nullptr) return nullptr;
    const auto it = level->fields().find(std::string(key));
    if (it == level->fields().end()) return nullptr;
    value = &it->second;
    level = value->has_struct_value() ? &value->struct_value() : nullptr;
  }
  return value;
}

// "NAME xCOUNT, ..." of a field mapping names to counts; empty when none.
std::string Counts(const Struct& report, absl::string_view field,
                   absl::string_view prefix = "") {
  const Value* value = Find(report, field);
  if (value == nullptr || !value->has_struct_value()) return "";
  std::vector<std::string> parts;
  for (const auto& [name, count] : value->struct_value().fields()) {
    parts.push_back(absl::StrCat(prefix, name, " x",
                                 static_cast<int64_t>(count.number_value())));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, ", ");
}

}  // namespace

double ReportNumber(const Struct& report, absl::string_view path) {
  const Value* value = Find(report, path);
  if (value == nullptr) return std::numeric_limits<double>::quiet_NaN();
  switch (value->kind_case()) {
    case Value::kNumberValue:
      return value->number_value();
    case Value::kBoolValue:
      return value->bool_value() ? 1 : 0;
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

std::string DescribeServerReaction(const Struct& report) {
  std::vector<std::string> parts;
  const double reset = ReportNumber(report, "streams_reset");
  if (!std::isnan(reset)) {
    parts.push_back(absl::StrFormat("%.0f streams opened and reset", reset));
    const double seconds = ReportNumber(report, "seconds");
    if (ReportNumber(report, "server_read_all") == 1) {
      parts.push_back(
          absl::StrFormat("the server read them in %.1f s", seconds));
    } else {
      parts.push_back("the server did not read them all");
    }
  } else {
    const double opened = ReportNumber(report, "streams_opened");
    const double peak = ReportNumber(report, "streams_open_at_peak");
    const double ended = ReportNumber(report, "streams_ended_by_server");
    const double read = ReportNumber(report, "server_read_all_at_s");
    parts.push_back(absl::StrFormat("%.0f streams sent", opened));
    if (!std::isnan(read)) {
      parts.push_back(absl::StrFormat(
          "%.0f held (the server read them in %.2f s)", peak - ended, read));
    }
    if (ended > 0) {
      parts.push_back(absl::StrFormat("%.0f ended by the server", ended));
    }
  }
  const std::string resets = Counts(report, "resets");
  if (!resets.empty()) parts.push_back(absl::StrCat("RST_STREAM ", resets));
  const std::string answers =
      Counts(report, "answers_by_grpc_status", "grpc-status ");
  if (!answers.empty()) parts.push_back(absl::StrCat("answered ", answers));
  if (const Value* goaway = Find(report, "goaway");
      goaway != nullptr && goaway->has_struct_value()) {
    const Struct& g = goaway->struct_value();
    const Value* error = Find(g, "error");
    const Value* debug = Find(g, "debug");
    parts.push_back(absl::StrFormat(
        "GOAWAY %s%s at %.2f s", error ? error->string_value() : "?",
        debug && !debug->string_value().empty()
            ? absl::StrCat(" \"", debug->string_value(), "\"")
            : "",
        ReportNumber(g, "at_s")));
  }
  const double closed = ReportNumber(report, "connection_closed_at_s");
  if (!std::isnan(closed)) {
    parts.push_back(
        absl::StrFormat("the server closed the connection at %.2f s", closed));
  }
  return absl::StrJoin(parts, "; ");
}

Prober::Prober(std::string address, ServerKind kind, absl::Duration interval,
               absl::Duration deadline)
    : address_(std::move(address)),
      kind_(kind),
      interval_(interval),
      deadline_(deadline),
      thread_([this] { Run(); }) {}

void Prober::Run() {
  do {
    absl::Duration elapsed;
    const grpc::Status status =
        CallOnNewConnection(address_, kind_, deadline_, &elapsed);
    absl::MutexLock lock(&mu_);
    result_.latency.Add(elapsed);
    if (status.ok()) {
      ++result_.ok;
    } else if (result_.failed++ == 0) {
      result_.first_failure =
          absl::StrCat(status.error_code(), ": ", status.error_message());
    }
  } while (!stop_.WaitForNotificationWithTimeout(interval_));
}

Prober::Result Prober::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return result_;
}

}  // namespace deadline::bench

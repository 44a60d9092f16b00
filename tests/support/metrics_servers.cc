#include "tests/support/metrics_servers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/time_util.h"
#include "tests/support/http_get.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {

absl::optional<MetricsServer> StartWithMetrics(absl::string_view binary,
                                               std::vector<std::string> flags) {
  flags.insert(flags.begin(), RunfilePath(binary));
  flags.push_back("--metrics_listen=127.0.0.1:0");
  MetricsServer server;
  server.process = StartServerProcess(std::move(flags), &server.address);
  if (server.process == nullptr) return absl::nullopt;
  // Printed before the "listening on" line StartServerProcess waited for.
  const std::string& output = server.process->output();
  const size_t at = output.find(" metrics on ");
  if (at == std::string::npos) return absl::nullopt;
  const size_t start = at + 12;
  server.metrics_address =
      output.substr(start, output.find('\n', start) - start);
  return server;
}

grpc::StatusCode FetchEnding(deadline::v1::Frontend::Stub& frontend,
                             Ending ending) {
  deadline::v1::FetchRequest request;
  absl::Duration deadline = absl::Seconds(10);
  switch (ending) {
    case Ending::kOk:
      *request.mutable_work() = Work(2, absl::Milliseconds(1));
      deadline = absl::Seconds(5);
      break;
    case Ending::kDeadlineExceeded:
      *request.mutable_work() = Work(100, absl::Milliseconds(10));
      deadline = absl::Milliseconds(150);
      break;
    case Ending::kCancelled:
      *request.mutable_work() = Work(100, absl::Milliseconds(10));
      break;
  }
  FetchCall call(frontend, request, absl::Now() + deadline);
  if (ending == Ending::kCancelled && !call.WaitFor(absl::Milliseconds(100))) {
    call.Cancel();
  }
  return call.Wait().status.error_code();
}

grpc::StatusCode WorkWithoutDeadline(deadline::v1::Backend::Stub& backend) {
  grpc::ClientContext context;
  deadline::v1::WorkReply reply;
  return backend.Work(&context, Work(1, absl::Milliseconds(1)), &reply)
      .error_code();
}

absl::StatusOr<std::string> ScrapeText(const std::string& metrics_address) {
  absl::StatusOr<HttpResponse> response = HttpGet(metrics_address, "/metrics");
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    return absl::InternalError(
        absl::StrCat("GET /metrics answered ", response->status));
  }
  return std::move(response->body);
}

absl::StatusOr<std::vector<Sample>> Scrape(const std::string& metrics_address) {
  absl::StatusOr<std::string> text = ScrapeText(metrics_address);
  if (!text.ok()) return text.status();
  return ParsePrometheusText(*text);
}

}  // namespace deadline::testing

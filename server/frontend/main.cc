// The frontend: forwards its caller's remaining budget to the backends.
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/transport.h"
#include "server/frontend/backend_channels.h"
#include "server/frontend/frontend_service.h"
#include "server/observability/metrics.h"
#include "server/observability/stats_service.h"
#include "server/serving/server_main.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on (port 0 picks a free port), or unix:PATH "
          "for a Unix-domain socket");
ABSL_FLAG(std::vector<std::string>, backend, {"127.0.0.1:50052"},
          "the backends, comma-separated; Fetch calls go to them in turn, "
          "FetchAll panel i to backend i mod N. An entry is host:port, "
          "replicas joined by '+' (host:port+host:port), or a gRPC target "
          "such as dns:///name:port; replicas are balanced round robin over "
          "the healthy ones");
ABSL_FLAG(absl::Duration, reserve, absl::Milliseconds(10),
          "margin kept back from the caller's budget: the backend call's "
          "deadline is the caller's minus this");
ABSL_FLAG(absl::Duration, min_budget, absl::Milliseconds(5),
          "fail fast with DEADLINE_EXCEEDED when less than reserve + this "
          "is left");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(5),
          "budget for calls that arrive without a deadline");
ABSL_FLAG(absl::Duration, max_deadline, absl::Seconds(60),
          "longer deadlines are clamped to this");
ABSL_FLAG(absl::Duration, max_stream_duration, absl::ZeroDuration(),
          "a FetchStream ends with DEADLINE_EXCEEDED after this long, "
          "whatever its caller's deadline (on top of --max_deadline; streams "
          "only); 0 or inf: off");
ABSL_FLAG(std::string, propagation, "on",
          "on: the backend call inherits the caller's deadline and "
          "cancellation; off: THE ANTI-PATTERN, a fresh context that drops "
          "both");
ABSL_FLAG(std::string, audit, "off",
          "record each Fetch's outcome with Backend.Record on the first "
          "backend: off; detached, work that outlives its request (Go's "
          "context.WithoutCancel); derived, THE HAZARD, an audit that dies "
          "with its request");
ABSL_FLAG(absl::Duration, audit_deadline, absl::Seconds(1),
          "each audit call's own deadline (detached audits), 1ms to 10s");
ABSL_FLAG(int, max_in_flight, deadline::FrontendOptions().max_in_flight,
          "calls in flight beyond this are refused at once with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(absl::Duration, hedge_after, absl::InfiniteDuration(),
          "hedging: a backend call not answered after this long gets a "
          "second one on the next backend; the first OK wins, the other is "
          "cancelled (inf: off)");
ABSL_FLAG(int, retries, 1,
          "attempts per backend call by gRPC's retry policy, UNAVAILABLE "
          "only, within the one deadline: 1 (off) to 5");
ABSL_FLAG(absl::Duration, retry_backoff, absl::Milliseconds(10),
          "the first retry waits up to this long (randomized, doubling)");
ABSL_FLAG(absl::Duration, retry_max_backoff, absl::Milliseconds(100),
          "retries wait at most this long");
ABSL_FLAG(absl::Duration, backend_connect_timeout, absl::Seconds(1),
          "a connection attempt to a backend gives up after this long");
ABSL_FLAG(int, backend_stream_window, 0,
          "bytes of a backend's stream that this frontend's transport may "
          "hold unread (its HTTP/2 receive window); 0: gRPC's default, which "
          "grows to megabytes while a stream flows fast, so a slow reader "
          "holds a backend back only once that much is buffered here");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA: reach the backends over TLS, verified by it (with "
          "--tls_cert/--tls_key as the client certificate, if given)");

int main(int argc, char** argv) {
  deadline::InitServerMain(
      argc, argv,
      "frontend: serves deadline.v1.Frontend and Stats, calling backends.\n"
      "Usage: frontend [--listen=HOST:PORT] [--backend=HOST:PORT,...] [flags]",
      __FILE__);
  deadline::FrontendOptions options;
  options.budget.reserve = absl::GetFlag(FLAGS_reserve);
  options.budget.min_budget = absl::GetFlag(FLAGS_min_budget);
  options.budget.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  options.budget.max_deadline = absl::GetFlag(FLAGS_max_deadline);
  deadline::ApplySharedBudgetFlags(options.budget);
  if (const absl::Status status = ValidateBudgetOptions(options.budget);
      !status.ok()) {
    deadline::ExitWithUsageError(status.message());
  }
  const absl::StatusOr<absl::Duration> max_stream_duration =
      deadline::ParseMaxStreamDuration(absl::GetFlag(FLAGS_max_stream_duration),
                                       options.budget);
  if (!max_stream_duration.ok()) {
    deadline::ExitWithUsageError(max_stream_duration.status().message());
  }
  options.max_stream_duration = *max_stream_duration;
  const deadline::ServingFlags serving = deadline::ServingFlagsOrExit(
      absl::GetFlag(FLAGS_listen), options.budget.max_deadline);
  options.log = serving.log;
  const std::string propagation = absl::GetFlag(FLAGS_propagation);
  if (propagation != "on" && propagation != "off") {
    deadline::ExitWithUsageError("--propagation must be on or off");
  }
  options.propagation = propagation == "on"
                            ? deadline::Propagation::kDeadlineAndCancellation
                            : deadline::Propagation::kNone;
  const std::string audit = absl::GetFlag(FLAGS_audit);
  if (audit == "detached") {
    options.audit = deadline::AuditMode::kDetached;
  } else if (audit == "derived") {
    options.audit = deadline::AuditMode::kDerived;
  } else if (audit != "off") {
    deadline::ExitWithUsageError("--audit must be off, detached or derived");
  }
  options.audit_deadline = absl::GetFlag(FLAGS_audit_deadline);
  if (options.audit_deadline < absl::Milliseconds(1) ||
      options.audit_deadline > absl::Seconds(10)) {
    deadline::ExitWithUsageError("--audit_deadline must be 1ms to 10s");
  }
  options.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  if (options.max_in_flight < 1) {
    deadline::ExitWithUsageError("--max_in_flight must be at least 1");
  }
  options.hedge_after = absl::GetFlag(FLAGS_hedge_after);
  if (options.hedge_after <= absl::ZeroDuration()) {
    deadline::ExitWithUsageError("--hedge_after must be above 0 (inf: off)");
  }

  deadline::BackendChannelOptions& channels = options.channels;
  channels.max_attempts = absl::GetFlag(FLAGS_retries);
  channels.initial_backoff = absl::GetFlag(FLAGS_retry_backoff);
  channels.max_backoff = absl::GetFlag(FLAGS_retry_max_backoff);
  channels.connect_timeout = absl::GetFlag(FLAGS_backend_connect_timeout);
  channels.keepalive = serving.serving.keepalive;
  channels.stream_window_bytes = absl::GetFlag(FLAGS_backend_stream_window);
  if (channels.stream_window_bytes != 0 &&
      channels.stream_window_bytes < 1024) {
    deadline::ExitWithUsageError(
        "--backend_stream_window must be 0 (gRPC's default) or at least "
        "1024");
  }
  if (!absl::GetFlag(FLAGS_tls_ca).empty()) {
    channels.tls = {serving.serving.tls.cert, serving.serving.tls.key,
                    absl::GetFlag(FLAGS_tls_ca)};
  }
  if (const absl::Status valid = ValidateBackendChannelOptions(channels);
      !valid.ok()) {
    deadline::ExitWithUsageError(valid.message());
  }
  const absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      deadline::ChannelCredentialsFor(channels.tls);
  if (!credentials.ok()) {
    deadline::ExitWithUsageError(credentials.status().message());
  }
  options.backend_credentials = *credentials;
  const absl::StatusOr<std::vector<deadline::BackendTarget>> backends =
      deadline::ParseBackends(absl::GetFlag(FLAGS_backend));
  if (!backends.ok()) deadline::ExitWithUsageError(backends.status().message());

  // Prometheus's view of the calls, fed as each ends; the gauges read the
  // same counters as Stats.
  std::unique_ptr<deadline::ServerMetrics> metrics;
  if (!serving.metrics_listen.empty()) {
    metrics = std::make_unique<deadline::ServerMetrics>(
        "frontend",
        std::vector<std::string>{"Fetch", "FetchAll", "FetchStream"});
    options.observer = metrics.get();
  }
  deadline::FrontendService frontend(*backends, options);
  deadline::StatsService stats([&frontend] { return frontend.Snapshot(); });
  if (metrics) {
    metrics->ReadGaugesFrom([&frontend] { return frontend.Snapshot(); });
  }
  absl::Time grace_ends = absl::InfiniteFuture();
  const int exit_code = deadline::ServeUntilSignalled(
      "frontend", serving, {&frontend, &stats},
      absl::StrCat(" (backends ",
                   absl::StrJoin(absl::GetFlag(FLAGS_backend), ","),
                   ", propagation ", propagation, ")"),
      [&] {
        grace_ends = absl::Now() + serving.grace;
        frontend.BeginShutdown(grace_ends);
      },
      metrics.get());
  // Audits are the frontend's own calls, which the server's shutdown does
  // not wait for: they get what is left of the grace.
  frontend.WaitForAudits(grace_ends);
  return exit_code;
}

#include "server/serving/server_main.h"

#include <cstdio>
#include <string>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"
#include "common/signals.h"
#include "common/transport.h"
#include "server/observability/metrics_endpoint.h"
#include "server/serving/server_runner.h"

ABSL_FLAG(std::string, log, "errors",
          "one line per call on stderr: all, errors (calls not OK) or none");
ABSL_FLAG(absl::Duration, shutdown_drain, absl::Milliseconds(200),
          "on SIGINT/SIGTERM, how long health reports NOT_SERVING while "
          "calls are still accepted, so load balancers move away (0 to 1m)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(1),
          "on SIGINT/SIGTERM, how long calls in flight may finish before "
          "they are cancelled (0 to 5m)");
ABSL_FLAG(int, max_streams, deadline::ServingOptions().max_streams,
          "HTTP/2 MAX_CONCURRENT_STREAMS: calls in flight on one connection");
ABSL_FLAG(deadline::ByteSize, max_memory,
          deadline::ByteSize{deadline::ServingOptions().max_memory_bytes},
          "gRPC's memory quota for this server (0: unbounded): under "
          "pressure gRPC shrinks its buffers and windows");
ABSL_FLAG(absl::Duration, keepalive_time,
          deadline::ServingOptions().keepalive.time,
          "ping a connection silent this long; with --keepalive_timeout, a "
          "peer whose host vanished is dropped and its calls cancelled");
ABSL_FLAG(absl::Duration, keepalive_timeout,
          deadline::ServingOptions().keepalive.timeout,
          "drop a connection whose ping is not answered this soon");
ABSL_FLAG(absl::Duration, min_ping_interval,
          deadline::ServingOptions().min_ping_interval,
          "clients may ping this often (at most their keepalive time)");
ABSL_FLAG(absl::Duration, max_connection_age,
          deadline::ServingOptions().max_connection_age,
          "close connections this old (GOAWAY), so no stream lives forever");
ABSL_FLAG(absl::Duration, max_connection_age_grace,
          deadline::ServingOptions().max_connection_age_grace,
          "calls on a closing connection get this long before they are "
          "cancelled; at least --max_deadline");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve TLS (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA: require client certificates signed by it (mutual TLS)");
ABSL_FLAG(bool, absolute_deadline, true,
          "plan from a caller's absolute deadline (deadline-at) too, where it "
          "is earlier than grpc-timeout and to be trusted: it counts the time "
          "a call waited to be read; false: grpc-timeout alone");
ABSL_FLAG(absl::Duration, clock_skew, deadline::BudgetOptions().clock_skew,
          "how far this host's clock may be from its callers' (0 to "
          "--reserve): a deadline-at is trusted within it");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on, over plain HTTP at "
          "/metrics (an IPv4 address or a name; port 0 picks a free port); "
          "empty: off");

namespace deadline {

void InitServerMain(int argc, char** argv, absl::string_view usage,
                    absl::string_view main_file) {
  TuneForServing();
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler({});
  BlockTerminationSignals();
  ParseFlagsOrExit(argc, argv, usage, {main_file, __FILE__});
}

void TuneForServing() {
  // Debian's Abseil is built with Mutex deadlock detection on: every lock
  // of every absl::Mutex (gRPC's own included) updates a graph of lock
  // order, a few per cent of a server's CPU (see bench/). It is a debugging
  // aid; servers turn it off, tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

void ApplySharedBudgetFlags(BudgetOptions& budget) {
  budget.absolute_deadline = absl::GetFlag(FLAGS_absolute_deadline);
  budget.clock_skew = absl::GetFlag(FLAGS_clock_skew);
}

ServingFlags ServingFlagsOrExit(absl::string_view listen,
                                absl::Duration max_deadline) {
  ServingFlags flags;
  const absl::StatusOr<LogMode> log = ParseLogMode(absl::GetFlag(FLAGS_log));
  if (!log.ok()) ExitWithUsageError(log.status().message());
  flags.log = *log;
  flags.drain = absl::GetFlag(FLAGS_shutdown_drain);
  if (flags.drain < absl::ZeroDuration() || flags.drain > absl::Minutes(1)) {
    ExitWithUsageError("--shutdown_drain must be 0 to 1m");
  }
  flags.grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (flags.grace < absl::ZeroDuration() || flags.grace > absl::Minutes(5)) {
    ExitWithUsageError("--shutdown_grace must be 0 to 5m");
  }
  ServingOptions& serving = flags.serving;
  serving.listen = std::string(listen);
  serving.max_streams = absl::GetFlag(FLAGS_max_streams);
  serving.max_memory_bytes = absl::GetFlag(FLAGS_max_memory).bytes;
  serving.keepalive.time = absl::GetFlag(FLAGS_keepalive_time);
  serving.keepalive.timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  serving.min_ping_interval = absl::GetFlag(FLAGS_min_ping_interval);
  serving.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  serving.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  serving.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                 absl::GetFlag(FLAGS_tls_client_ca)};
  if (const absl::Status valid = ValidateServingOptions(serving); !valid.ok()) {
    ExitWithUsageError(valid.message());
  }
  // A half-given pair or an unreadable file is a usage error, found now
  // rather than when the server starts. (Whether the files hold valid PEM,
  // and the key matches the certificate, gRPC 1.51 only finds out when it
  // binds the port: see ServeUntilSignalled.)
  if (const absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
          credentials = ServerCredentialsFor(serving.tls);
      !credentials.ok()) {
    ExitWithUsageError(credentials.status().message());
  }
  flags.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!flags.metrics_listen.empty()) {
    if (const absl::Status valid = ValidateMetricsListen(flags.metrics_listen);
        !valid.ok()) {
      ExitWithUsageError(valid.message());
    }
  }
  if (serving.max_connection_age_grace < max_deadline) {
    ExitWithUsageError(absl::StrCat(
        "--max_connection_age_grace must be at least --max_deadline (",
        absl::FormatDuration(max_deadline),
        "), or a connection could close under a call still allowed to run"));
  }
  return flags;
}

int ServeUntilSignalled(absl::string_view name, const ServingFlags& flags,
                        const std::vector<grpc::Service*>& services,
                        absl::string_view detail,
                        const std::function<void()>& before_stop,
                        const ServerMetrics* metrics) {
  const std::string who(name);
  // Served until this function returns: until after the server has stopped.
  std::unique_ptr<MetricsEndpoint> metrics_endpoint;
  if (!flags.metrics_listen.empty() && metrics != nullptr) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> started =
        MetricsEndpoint::Start(flags.metrics_listen, metrics->collectable());
    if (!started.ok()) {
      std::fprintf(stderr, "%s: %s\n", who.c_str(),
                   std::string(started.status().message()).c_str());
      return 1;
    }
    metrics_endpoint = *std::move(started);
  }
  absl::StatusOr<RunningServer> running = StartServer(flags.serving, services);
  if (!running.ok()) {
    std::fprintf(stderr, "%s: %s%s\n", who.c_str(),
                 std::string(running.status().message()).c_str(),
                 flags.serving.tls.cert.empty()
                     ? ""
                     : " (or --tls_cert, --tls_key or --tls_client_ca is not "
                       "valid PEM, or the key does not match the "
                       "certificate: gRPC's log above says which)");
    return 1;
  }
  if (flags.serving.tls.cert.empty() && !IsLoopback(running->address)) {
    std::fprintf(stderr,
                 "%s: warning: serving plaintext on %s, beyond loopback: "
                 "anyone on the network can read and forge calls "
                 "(--tls_cert, --tls_key, --tls_client_ca)\n",
                 who.c_str(), running->address.c_str());
  }
  if (metrics_endpoint != nullptr) {
    std::printf("%s metrics on %s\n", who.c_str(),
                metrics_endpoint->address().c_str());
  }
  std::printf("%s listening on %s%s\n", who.c_str(), running->address.c_str(),
              std::string(detail).c_str());
  std::fflush(stdout);

  const int signal = WaitForTerminationSignal();
  std::fprintf(stderr, "%s: signal %d, shutting down\n", who.c_str(), signal);
  StopServer(*running->server, flags.drain, flags.grace, before_stop);
  return 0;
}

}  // namespace deadline

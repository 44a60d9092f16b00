#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "bench/h2load.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/proc_stats.h"
#include "tests/support/process_chain.h"
#include "tests/support/subprocess.h"

namespace deadline::bench {
namespace {

using testing::ProcessChain;
using testing::ServerCommand;
using testing::Subprocess;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One chain under test: a frontend and a backend process, and its figures.
struct Chain {
  std::string key;   // In figure names: "project", "bare", "go".
  std::string name;  // In the table.
  ProcessChain processes;
  // Set for the project's chain only, which can refuse calls: h2load counts
  // HTTP 200s, which gRPC sends for errors too, so its OK answers are
  // counted from its backend's Stats. The other two cannot refuse.
  std::unique_ptr<deadline::v1::Stats::Stub> stats;
  // Why it is left out; empty while it is measured.
  std::string failure;
  // The first h2load failure, if any.
  std::string h2load_error;
  // One entry per round.
  std::vector<double> latency_us;
  std::vector<double> calls_per_s;
  std::vector<double> frontend_cpu_us_per_call;
  std::vector<double> backend_cpu_us_per_call;
  // Over all the rate runs: OK answers counted and HTTP 200s h2load saw.
  int64_t ok = 0;
  int64_t http_200 = 0;
};

// Starts the chain's backend, then its frontend pointed at it; notes which
// did not start in `chain.failure`.
void Start(const ServerCommand& backend, const ServerCommand& frontend,
           Chain& chain) {
  const absl::Status started = chain.processes.Start(backend, frontend);
  if (!started.ok()) chain.failure = std::string(started.message());
}

// The backend's calls_ok, or nullopt if Stats did not answer.
absl::optional<int64_t> CallsOk(deadline::v1::Stats::Stub& stats) {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  deadline::v1::StatsReply reply;
  if (!stats.GetStats(&context, {}, &reply).ok()) return absl::nullopt;
  return reply.calls_ok();
}

// CPU time (user + system) the process has used, in microseconds.
double CpuMicros(const Subprocess& process) {
  return testing::CpuSecondsOf(process.pid()) * 1e6;
}

// Every call carries a deadline, as calls into a deadline-aware chain do:
// then all three chains propagate it and arm the same timers (without one,
// the project's frontend would give each call its default deadline, and
// only the project would arm them).
constexpr char kTimeout[] = "5S";

// Runs h2load for `duration` against the chain's frontend, with `clients`
// connections of `streams` calls in flight each.
H2loadResult FetchLoad(const std::string& h2load, const std::string& body,
                       const Chain& chain, int clients, int streams,
                       absl::Duration duration) {
  return LoadFetch(h2load, body, chain.processes.frontend_address, clients,
                   streams, duration, kTimeout);
}

// "<median> (rounds <min> to <max>)", or "no figure" without one.
std::string Shown(const std::vector<double>& rounds,
                  std::string (*format)(double)) {
  const double median = Median(rounds);
  if (std::isnan(median)) return "no figure";
  std::vector<double> numbers;
  for (double v : rounds) {
    if (!std::isnan(v)) numbers.push_back(v);
  }
  if (numbers.size() < 2) return format(median);
  const auto [low, high] = std::minmax_element(numbers.begin(), numbers.end());
  return absl::StrCat(format(median), " (rounds ", format(*low), " to ",
                      format(*high), ")");
}

std::string PerSecond(double rate) { return absl::StrFormat("%.0f/s", rate); }

constexpr char kMethod[] =
    "Each chain runs as two processes of its own, and h2load (a separate C "
    "client) calls the frontend's Fetch with an empty request: one "
    "connection with 1 call in flight for the mean latency, 4 connections "
    "with 8 calls each (32 in flight) for the rate. The rounds take turns "
    "(project, bare, Go, then again), so a slow phase of this shared "
    "machine falls on all three, and each ratio is the median of the "
    "rounds' own ratios. h2load counts HTTP 200s, which gRPC sends for "
    "errors too, so the project's rate counts the smaller of h2load's "
    "count and the OK answers in its backend's Stats (which also counts the "
    "calls h2load leaves in flight when it stops: OK above 200s means "
    "nothing was refused); the two comparison chains cannot refuse. CPU per "
    "call is each server process's CPU time (from /proc, in 10 ms ticks) "
    "over the answers, in the rate runs (median of the rounds).\n\n"
    "With h2load and five server processes on two cores, the rate at 32 in "
    "flight follows the CPU each chain spends per call, which CPU time "
    "shows better than wall time on a busy machine. All three chains send "
    "the backend call a deadline (h2load sends grpc-timeout 5S), so all "
    "three arm the same timers. The project's chain does a little more per "
    "call, by design: both its servers parse the request themselves (raw "
    "methods, so a malformed one is answered INVALID_ARGUMENT and counted), "
    "the frontend plans a budget and checks the backend's answer against "
    "the request, and each hop ends its call in one record that feeds "
    "Stats (and the log and metrics, off here). An OK answer carries no "
    "trace unless the caller asks for one, so the hot path adds no "
    "trailers. Absolute figures swing with the machine's load; compare the "
    "ratios, whose sides ran seconds apart.";

}  // namespace

Section ChainComparison(const Config& config) {
  Section section{"chain_comparison",
                  "The chain against a bare C++ chain and a Go chain "
                  "(h2load, Frontend.Fetch, empty request)"};
  section.analysis = kMethod;
  if (SkippedWithoutBinaries(config, section, "chain comparison"))
    return section;

  std::vector<Chain> chains(config.go_chain.empty() ? 2 : 3);
  chains[0].key = "project";
  chains[0].name =
      "project chain (server/frontend/frontend -> server/backend/backend)";
  Start(
      {absl::StrCat(config.bin_dir, "/server/backend/backend"), {"--log=none"}},
      {absl::StrCat(config.bin_dir, "/server/frontend/frontend"),
       {"--log=none"}},
      chains[0]);
  chains[1].key = "bare";
  chains[1].name = "bare C++ chain (bench/bare_chain)";
  const std::string bare = absl::StrCat(config.bin_dir, "/bench/bare_chain");
  Start({bare, {"--role=backend"}}, {bare, {"--role=frontend"}}, chains[1]);
  if (!config.go_chain.empty()) {
    chains[2].key = "go";
    chains[2].name = "Go chain (bench/go_chain, grpc-go 1.33)";
    Start({config.go_chain, {"--role=backend"}},
          {config.go_chain, {"--role=frontend"}}, chains[2]);
  }
  Chain& project = chains[0];
  if (project.failure.empty()) {
    project.stats = deadline::v1::Stats::NewStub(grpc::CreateChannel(
        project.processes.backend_address, grpc::InsecureChannelCredentials()));
  }

  // Every chain must answer OK before its figures mean anything.
  std::vector<std::string> answers;
  bool all_ok = true;
  for (Chain& chain : chains) {
    if (chain.failure.empty()) {
      // One Frontend.Fetch with an empty request, as h2load sends it.
      absl::Duration elapsed;
      const grpc::Status status = CallOnNewConnection(
          chain.processes.frontend_address, ServerKind::kFrontend,
          absl::Seconds(5), &elapsed);
      if (!status.ok()) {
        chain.failure = absl::StrCat("Fetch answered ", status.error_code(),
                                     ": ", status.error_message());
      }
    }
    all_ok = all_ok && chain.failure.empty();
    answers.push_back(absl::StrCat(
        chain.key, ": ", chain.failure.empty() ? "OK" : chain.failure));
  }
  section.rows.push_back({"every chain answers an empty Fetch with OK",
                          absl::StrJoin(answers, "; "), "all OK",
                          all_ok ? Verdict::kMet : Verdict::kMissed});
  if (config.go_chain.empty()) {
    section.rows.push_back(
        Info("Go chain", "skipped (no --go_chain; bench/run.sh builds it)"));
  }
  if (config.h2load.empty()) {
    section.rows.push_back(
        Info("h2load runs",
             "skipped (no h2load: scripts/deps.sh bench installs "
             "nghttp2-client)"));
    return section;
  }
  const RequestFile body;
  if (body.path().empty()) {
    section.rows.push_back(
        Info("h2load runs", "skipped (cannot write the request body file)"));
    return section;
  }

  const int rounds = config.quick ? 1 : 5;
  const absl::Duration run =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(2);
  const auto measured = [](const Chain& chain) {
    return chain.failure.empty();
  };
  const auto note = [](Chain& chain, const H2loadResult& result) {
    if (chain.h2load_error.empty()) chain.h2load_error = result.error;
  };
  // Warm-up: connections, each frontend's channel to its backend, caches.
  for (Chain& chain : chains) {
    if (!measured(chain)) continue;
    note(chain, FetchLoad(config.h2load, body.path(), chain, 4, 8, run / 2));
  }
  for (int round = 0; round < rounds; ++round) {
    for (Chain& chain : chains) {
      if (!measured(chain)) continue;
      const H2loadResult result =
          FetchLoad(config.h2load, body.path(), chain, 1, 1, run);
      note(chain, result);
      chain.latency_us.push_back(result.error.empty() ? result.mean_us : kNaN);
    }
    for (Chain& chain : chains) {
      if (!measured(chain)) continue;
      absl::optional<int64_t> ok_before;
      if (chain.stats != nullptr) ok_before = CallsOk(*chain.stats);
      const Subprocess& frontend = *chain.processes.frontend;
      const Subprocess& backend = *chain.processes.backend;
      const double frontend_cpu = CpuMicros(frontend);
      const double backend_cpu = CpuMicros(backend);
      const H2loadResult result =
          FetchLoad(config.h2load, body.path(), chain, 4, 8, run);
      const double frontend_used = CpuMicros(frontend) - frontend_cpu;
      const double backend_used = CpuMicros(backend) - backend_cpu;
      note(chain, result);
      int64_t answered = result.succeeded;
      if (chain.stats != nullptr) {
        const absl::optional<int64_t> ok_after = CallsOk(*chain.stats);
        const int64_t ok = ok_before.has_value() && ok_after.has_value()
                               ? *ok_after - *ok_before
                               : 0;
        chain.ok += ok;
        // The backend also counts the calls h2load left in flight when it
        // stopped (up to 32), which h2load does not: the smaller count
        // never overstates the chain.
        answered = std::min(answered, ok);
      }
      chain.http_200 += result.succeeded;
      const bool ok = result.error.empty() && answered > 0;
      chain.calls_per_s.push_back(ok ? answered / result.seconds : kNaN);
      chain.frontend_cpu_us_per_call.push_back(ok ? frontend_used / answered
                                                  : kNaN);
      chain.backend_cpu_us_per_call.push_back(ok ? backend_used / answered
                                                 : kNaN);
    }
  }

  for (const Chain& chain : chains) {
    if (!measured(chain)) {
      section.rows.push_back(Info(chain.name, chain.failure));
      continue;
    }
    const std::string failed =
        chain.h2load_error.empty()
            ? ""
            : absl::StrCat(" (", chain.h2load_error, ")");
    section.rows.push_back(
        Info(absl::StrCat(chain.name, ": mean latency, 1 in flight"),
             Shown(chain.latency_us, Ms) + failed));
    section.rows.push_back(
        Info(absl::StrCat(chain.name, ": OK answers per second, 32 in flight"),
             Shown(chain.calls_per_s, PerSecond) + failed));
    const double frontend_cpu = Median(chain.frontend_cpu_us_per_call);
    const double backend_cpu = Median(chain.backend_cpu_us_per_call);
    section.rows.push_back(
        Info(absl::StrCat(chain.name, ": CPU per call, frontend + backend"),
             absl::StrFormat("%.0f + %.0f us", frontend_cpu, backend_cpu)));
    section.figures[chain.key + ".mean_latency_us"] = Median(chain.latency_us);
    section.figures[chain.key + ".calls_per_s"] = Median(chain.calls_per_s);
    section.figures[chain.key + ".frontend_cpu_us_per_call"] = frontend_cpu;
    section.figures[chain.key + ".backend_cpu_us_per_call"] = backend_cpu;
    for (size_t r = 0; r < chain.calls_per_s.size(); ++r) {
      const std::string round = absl::StrCat(chain.key, ".round", r + 1);
      section.figures[round + ".mean_latency_us"] = chain.latency_us[r];
      section.figures[round + ".calls_per_s"] = chain.calls_per_s[r];
    }
  }

  // The ratios, round by round, then their median.
  const auto compare = [&](const Chain& other, bool held) {
    if (!measured(project) || !measured(other)) return;
    const double rate = Median(Ratios(project.calls_per_s, other.calls_per_s));
    const double latency = Median(Ratios(project.latency_us, other.latency_us));
    const std::string versus = absl::StrCat("project / ", other.key, ": ");
    const std::string rate_metric =
        absl::StrCat(versus, "OK answers per second, 32 in flight");
    const std::string latency_metric =
        absl::StrCat(versus, "mean latency, 1 in flight");
    if (held) {
      section.rows.push_back(
          AtLeast(rate_metric, rate, 0.80, Pct(rate), ">= 80%"));
      section.rows.push_back(
          AtMost(latency_metric, latency, 1.15, X(latency), "<= 1.15x"));
    } else {
      section.rows.push_back(Info(rate_metric, Pct(rate)));
      section.rows.push_back(Info(latency_metric, X(latency)));
    }
    section.figures[absl::StrCat("project_over_", other.key, ".calls_per_s")] =
        rate;
    section.figures[absl::StrCat("project_over_", other.key, ".mean_latency")] =
        latency;
  };
  compare(chains[1], true);
  if (chains.size() > 2) compare(chains[2], false);
  if (measured(project)) {
    section.rows.push_back(
        Info("project: OK answers (backend's Stats) / HTTP 200s (h2load), "
             "32 in flight",
             absl::StrCat(project.ok, " / ", project.http_200)));
  }
  section.figures["rounds"] = rounds;
  section.figures["seconds_per_run"] = absl::ToDoubleSeconds(run);
  return section;
}

}  // namespace deadline::bench

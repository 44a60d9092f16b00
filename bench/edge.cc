#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/h2load.h"
#include "bench/harness.h"
#include "bench/hostile_peer.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "tests/support/edge_proxy.h"
#include "tests/support/proc_stats.h"
#include "tests/support/process_chain.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {
namespace {

using testing::EdgeProxy;
using testing::ProcessChain;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The project's chain (--log=none) and the edge proxy in front of its
// frontend, rendered with `render_flags`.
struct EdgeChain {
  ProcessChain chain;
  std::unique_ptr<EdgeProxy> proxy;
  std::string failure;  // Why it could not start; empty when it did.
};

std::unique_ptr<EdgeChain> StartEdge(const Config& config,
                                     std::vector<std::string> render_flags) {
  auto edge = std::make_unique<EdgeChain>();
  const absl::Status started = edge->chain.Start(
      {absl::StrCat(config.bin_dir, "/server/backend/backend"), {"--log=none"}},
      {absl::StrCat(config.bin_dir, "/server/frontend/frontend"),
       {"--log=none"}});
  if (!started.ok()) {
    edge->failure = std::string(started.message());
    return edge;
  }
  EdgeProxy::Options options;
  options.render_script = config.edge_render;
  options.nginx = config.nginx;
  options.frontend = edge->chain.frontend_address;
  options.render_flags = std::move(render_flags);
  absl::StatusOr<std::unique_ptr<EdgeProxy>> proxy = EdgeProxy::Start(options);
  if (!proxy.ok()) {
    edge->failure = std::string(proxy.status().message());
    return edge;
  }
  edge->proxy = *std::move(proxy);
  return edge;
}

std::string Rounds(const std::vector<double>& values,
                   std::string (*format)(double)) {
  std::vector<std::string> parts;
  for (double v : values) parts.push_back(format(v));
  return absl::StrJoin(parts, ", ");
}

std::string Micros(double us) { return absl::StrFormat("%.0f us", us); }
std::string Rate(double per_s) { return absl::StrFormat("%.0f/s", per_s); }

// The comparison: direct and through the proxy, in alternating rounds.
void Compare(const Config& config, Section& section) {
  if (config.h2load.empty()) {
    section.rows.push_back(
        Info("h2load runs", "skipped (no h2load: scripts/deps.sh bench)"));
    return;
  }
  const RequestFile body;
  const std::unique_ptr<EdgeChain> edge = StartEdge(config, {});
  if (!edge->failure.empty() || body.path().empty()) {
    section.rows.push_back(
        Info("edge comparison", absl::StrCat("failed: ", edge->failure)));
    return;
  }
  const std::string direct = edge->chain.frontend_address;
  const std::string proxied = edge->proxy->address();
  const int rounds = config.quick ? 1 : 5;
  const absl::Duration run =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(2);
  std::string error;
  const auto note = [&error](const H2loadResult& r) {
    if (error.empty()) error = r.error;
  };
  note(LoadFetch(config.h2load, body.path(), direct, 4, 8, run / 2));
  note(LoadFetch(config.h2load, body.path(), proxied, 4, 8, run / 2));

  std::vector<double> latency[2], rate[2], frontend_cpu[2], nginx_cpu[2];
  const std::string* addresses[2] = {&direct, &proxied};
  const pid_t frontend = edge->chain.frontend->pid();
  const pid_t nginx = edge->proxy->pid();
  for (int round = 0; round < rounds; ++round) {
    for (int path = 0; path < 2; ++path) {
      const H2loadResult r =
          LoadFetch(config.h2load, body.path(), *addresses[path], 1, 1, run);
      note(r);
      latency[path].push_back(r.error.empty() ? r.mean_us : kNaN);
    }
    for (int path = 0; path < 2; ++path) {
      const double frontend_before = testing::CpuSecondsOf(frontend);
      const double nginx_before = testing::CpuSecondsWithChildrenOf(nginx);
      const H2loadResult r =
          LoadFetch(config.h2load, body.path(), *addresses[path], 4, 8, run);
      note(r);
      const bool ok = r.error.empty() && r.succeeded > 0;
      rate[path].push_back(ok ? r.succeeded / r.seconds : kNaN);
      frontend_cpu[path].push_back(
          ok ? (testing::CpuSecondsOf(frontend) - frontend_before) * 1e6 /
                   r.succeeded
             : kNaN);
      nginx_cpu[path].push_back(
          ok ? (testing::CpuSecondsWithChildrenOf(nginx) - nginx_before) * 1e6 /
                   r.succeeded
             : kNaN);
    }
  }
  if (!error.empty()) section.rows.push_back(Info("h2load", error));
  const double lat = Median(Ratios(latency[1], latency[0]));
  const double thr = Median(Ratios(rate[1], rate[0]));
  section.rows.push_back(
      Info("mean latency, 1 in flight: direct; through the proxy (rounds)",
           absl::StrCat(Rounds(latency[0], Micros), "; ",
                        Rounds(latency[1], Micros))));
  section.rows.push_back(
      AtMost("through the proxy / direct: mean latency, 1 in flight", lat, 1.3,
             absl::StrFormat("%s (+%.0f us)", X(lat),
                             Median(latency[1]) - Median(latency[0])),
             "<= 1.3x"));
  section.rows.push_back(
      Info("calls per second, 32 in flight: direct; through the proxy",
           absl::StrCat(Rounds(rate[0], Rate), "; ", Rounds(rate[1], Rate))));
  section.rows.push_back(
      AtLeast("through the proxy / direct: calls per second, 32 in flight", thr,
              0.6, Pct(thr), ">= 60%"));
  section.rows.push_back(
      Info("CPU per call at 32 in flight: frontend direct; frontend and nginx "
           "through the proxy",
           absl::StrFormat("%.0f us; %.0f + %.0f us", Median(frontend_cpu[0]),
                           Median(frontend_cpu[1]), Median(nginx_cpu[1]))));
  section.figures["latency_ratio"] = lat;
  section.figures["rate_ratio"] = thr;
  section.figures["direct.mean_latency_us"] = Median(latency[0]);
  section.figures["edge.mean_latency_us"] = Median(latency[1]);
  section.figures["direct.calls_per_s"] = Median(rate[0]);
  section.figures["edge.calls_per_s"] = Median(rate[1]);
  section.figures["direct.frontend_cpu_us_per_call"] = Median(frontend_cpu[0]);
  section.figures["edge.frontend_cpu_us_per_call"] = Median(frontend_cpu[1]);
  section.figures["edge.nginx_cpu_us_per_call"] = Median(nginx_cpu[1]);
}

struct Flooded {
  std::string error;
  double rest_mb = 0;
  double max_mb = 0;
  Prober::Result probes;
  google::protobuf::Struct report;
};

// One flood against a fresh chain and proxy, from 127.0.0.2 (the proxy
// limits calls per client address), ordinary clients calling through the
// proxy from 127.0.0.1 meanwhile; the frontend's RSS sampled until
// `settle` after the peer has gone.
Flooded Flood(const Config& config, std::vector<std::string> render_flags,
              std::vector<std::string> args, absl::Duration settle) {
  Flooded m;
  const std::unique_ptr<EdgeChain> edge =
      StartEdge(config, std::move(render_flags));
  if (!edge->failure.empty()) {
    m.error = edge->failure;
    return m;
  }
  for (int i = 0; i < 5; ++i) {
    absl::Duration elapsed;
    CallOnNewConnection(edge->proxy->address(), ServerKind::kFrontend,
                        absl::Seconds(5), &elapsed);
  }
  absl::SleepFor(absl::Milliseconds(200));
  const pid_t frontend = edge->chain.frontend->pid();
  m.rest_mb = m.max_mb = testing::RssMegabytesOf(frontend);
  Prober prober(edge->proxy->address(), ServerKind::kFrontend);
  args.insert(args.end(),
              {"--source=127.0.0.2", "--path=/deadline.v1.Frontend/Fetch"});
  std::unique_ptr<HostilePeer> peer = HostilePeer::Start(
      {config.python, config.h2flood}, edge->proxy->address(), args);
  if (peer == nullptr) {
    m.error = "h2flood.py did not start";
    return m;
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (!peer->WaitFor(absl::Milliseconds(20))) {
    m.max_mb = std::max(m.max_mb, testing::RssMegabytesOf(frontend));
    edge->chain.frontend->output();
    edge->chain.backend->output();
    if (absl::Now() > give_up) {
      m.error = "h2flood.py did not finish";
      return m;
    }
  }
  const absl::Time settled = absl::Now() + settle;
  while (absl::Now() < settled) {
    m.max_mb = std::max(m.max_mb, testing::RssMegabytesOf(frontend));
    absl::SleepFor(absl::Milliseconds(20));
  }
  m.probes = prober.Stop();
  absl::StatusOr<google::protobuf::Struct> report = peer->Report();
  if (!report.ok()) {
    m.error = std::string(report.status().message());
    return m;
  }
  m.report = *std::move(report);
  return m;
}

void Floods(const Config& config, Section& section) {
  if (!CanRunHostilePeer({config.python, config.h2flood})) {
    section.rows.push_back(
        Info("floods at the edge", "skipped (python3-h2 missing?)"));
    return;
  }
  const int streams = config.quick ? 200 : 20000;
  const std::string hold = config.quick ? "0.5" : "8";
  const std::string reset_for = config.quick ? "1" : "3";
  const absl::Duration settle =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(2);
  struct Variant {
    std::string id;
    std::string label;
    std::vector<std::string> render_flags;
    std::vector<std::string> args;
    bool held;  // Held to the floors (the configuration as shipped).
  };
  const std::vector<Variant> variants = {
      {"halfopen",
       absl::StrCat(streams, " half-open streams, peer keeps to the limit"),
       {},
       {"--mode=halfopen", absl::StrCat("--streams=", streams),
        absl::StrCat("--hold=", hold), "--respect_limit"},
       true},
      {"rapidreset",
       absl::StrCat("rapid reset for ", reset_for, " s, one connection"),
       {},
       {"--mode=rapidreset", "--streams=1000000",
        absl::StrCat("--hold=", reset_for)},
       true},
      {"rapidreset_reconnect",
       absl::StrCat("rapid reset for ", reset_for,
                    " s, a new connection whenever nginx closes one"),
       {},
       {"--mode=rapidreset", "--streams=1000000",
        absl::StrCat("--hold=", reset_for), "--reconnect"},
       true},
      {"rapidreset_no_rate_limit",
       absl::StrCat("the same, without the proxy's call rate limit (",
                    "render.sh --rate=1000000000)"),
       {"--rate=1000000000"},
       {"--mode=rapidreset", "--streams=1000000",
        absl::StrCat("--hold=", reset_for), "--reconnect"},
       false},
  };
  for (const Variant& variant : variants) {
    const std::string name = absl::StrCat("through the proxy, ", variant.label);
    const Flooded m = Flood(config, variant.render_flags, variant.args, settle);
    if (!m.error.empty()) {
      section.rows.push_back(Info(name, absl::StrCat("failed: ", m.error)));
      continue;
    }
    const std::string rss = absl::StrFormat(
        "%.0f MB = %.2fx at rest (%.1f MB); %s", m.max_mb, m.max_mb / m.rest_mb,
        m.rest_mb, DescribeServerReaction(m.report));
    const Summary p = m.probes.latency.Summarize();
    const std::string probes = absl::StrCat(
        m.probes.ok, " of ", m.probes.ok + m.probes.failed, " OK; slowest ",
        Ms(p.max),
        m.probes.failed > 0
            ? absl::StrCat("; first failure ", m.probes.first_failure)
            : "");
    const std::string rss_metric =
        absl::StrCat(name, ": frontend RSS, max (flood and teardown)");
    const std::string probe_metric =
        absl::StrCat(name, ": other clients through the proxy (1 s deadline)");
    if (variant.held) {
      section.rows.push_back(
          AtMost(rss_metric, m.max_mb, 2 * m.rest_mb, rss, "< 2x at rest"));
      section.rows.push_back(AtMost(probe_metric, m.probes.failed, 0, probes,
                                    "all OK (1 s deadline)"));
    } else {
      section.rows.push_back(Info(rss_metric, rss));
      section.rows.push_back(Info(probe_metric, probes));
    }
    const std::string key = absl::StrCat("flood.", variant.id);
    section.figures[key + ".rss_rest_mb"] = m.rest_mb;
    section.figures[key + ".rss_max_mb"] = m.max_mb;
    section.figures[key + ".calls_failed"] = m.probes.failed;
    section.figures[key + ".call_max_us"] = p.max;
    section.figures[key + ".streams_reset"] =
        ReportNumber(m.report, "streams_reset");
    section.figures[key + ".connections"] =
        ReportNumber(m.report, "connections");
  }
}

constexpr char kAnalysis[] =
    "The project's chain with nginx (deploy/edge/, rendered by "
    "deploy/edge/render.sh from the frontend's default flags) in front of "
    "its frontend, against the same chain called directly, in the same run: "
    "h2load calls Frontend.Fetch with an empty request and grpc-timeout 5S, "
    "1 call in flight for the mean latency, 4 connections of 8 calls for the "
    "rate, the two paths taking turns, each ratio the median of the rounds' "
    "own. Where the difference goes: a call through the proxy crosses two "
    "more loopback hops and nginx's own work (HPACK both ways, its request "
    "and upstream state, the access log line), which its CPU per call "
    "shows; nginx's gRPC proxy puts one call at a time on each connection to "
    "the frontend, so 32 calls in flight are 32 connections there instead of "
    "4, and the frontend's gRPC reads and writes each on its own.\n\n"
    "Floods run against fresh servers each, from 127.0.0.2 (the proxy's call "
    "rate limit is per client address), with ordinary clients calling "
    "through the proxy from 127.0.0.1 meanwhile. nginx keeps a peer to 128 "
    "streams per connection (http2_max_concurrent_streams) and handles at "
    "most twice that per read (Debian's backport of the CVE-2023-44487 "
    "mitigation), so a half-open flood holds 128 connections at the "
    "frontend, and a one-connection rapid reset ends after a few hundred "
    "streams. But each stream nginx passes on is a connection of its own to "
    "the frontend, and a reset one cannot go back to the pool: a peer that "
    "reconnects turns rapid reset into a flood of connections at the "
    "frontend. The last row shows it without the rate limit: gRPC 1.51 then "
    "runs out of file descriptors (accept4: Too many open files) and stops "
    "accepting connections at all. The shipped configuration makes calls "
    "beyond --rate per second from one address wait (limit_req with a "
    "burst, no nodelay); a reset stream ends while it waits, so it never "
    "reaches the frontend.";

}  // namespace

Section Edge(const Config& config) {
  Section section{"edge",
                  "The chain behind the edge proxy (nginx): latency, "
                  "rate, and floods stopped at the edge"};
  section.analysis = kAnalysis;
  if (SkippedWithoutBinaries(config, section, "edge proxy")) return section;
  if (config.edge_render.empty() || !EdgeProxy::Available(config.nginx).ok()) {
    section.rows.push_back(
        Info("edge proxy", "skipped (no nginx or no --edge_render)"));
    return section;
  }
  const double load_before = LoadAverage();
  Compare(config, section);
  Floods(config, section);
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  return section;
}

}  // namespace deadline::bench

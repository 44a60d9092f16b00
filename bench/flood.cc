#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/hostile_peer.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "google/protobuf/struct.pb.h"
#include "tests/support/proc_stats.h"
#include "tests/support/process_chain.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {

using google::protobuf::Struct;

namespace {

using testing::RssMegabytesOf;

constexpr char kFetchPath[] = "--path=/deadline.v1.Frontend/Fetch";
constexpr char kWorkPath[] = "--path=/deadline.v1.Backend/Work";

// Starts a backend and a frontend over it with every serving limit at its
// default, and gives them a few ordinary calls, so that "at rest" means
// after serving, not before; nullptr if they did not start.
std::unique_ptr<testing::ProcessChain> StartChain(const std::string& bin_dir) {
  auto chain = std::make_unique<testing::ProcessChain>();
  if (!chain
           ->Start({absl::StrCat(bin_dir, "/server/backend/backend"), {}},
                   {absl::StrCat(bin_dir, "/server/frontend/frontend"), {}})
           .ok()) {
    return nullptr;
  }
  for (int i = 0; i < 5; ++i) {
    absl::Duration elapsed;
    CallOnNewConnection(chain->frontend_address, ServerKind::kFrontend,
                        absl::Seconds(5), &elapsed);
  }
  absl::SleepFor(absl::Milliseconds(200));
  return chain;
}

// Reads what the servers printed, so that no pipe fills up.
void Drain(testing::ProcessChain& chain) {
  chain.backend->output();
  chain.frontend->output();
}

struct Measured {
  std::string error;  // Set when the run could not be measured.
  double rest_mb = 0;
  double max_mb = 0;  // During the flood and its teardown.
  double after_mb = 0;
  double cpu_seconds = 0;  // The target server's, during the run.
  Prober::Result probes;
  Struct report;
};

// Runs one hostile peer against fresh servers (a server that already went
// through a flood keeps its memory, and would hide the next one's), with
// ordinary clients calling meanwhile; samples the target's RSS until
// `settle` after the peer has gone.
Measured Measure(const Config& config, const HostilePeerCommand& command,
                 ServerKind kind, std::vector<std::string> args,
                 absl::Duration hold, absl::Duration settle) {
  Measured m;
  const std::unique_ptr<testing::ProcessChain> chain =
      StartChain(config.bin_dir);
  if (chain == nullptr) {
    m.error = "the servers did not start";
    return m;
  }
  const bool frontend = kind == ServerKind::kFrontend;
  const pid_t pid = frontend ? chain->frontend->pid() : chain->backend->pid();
  const std::string& address =
      frontend ? chain->frontend_address : chain->backend_address;
  args.push_back(frontend ? kFetchPath : kWorkPath);
  m.rest_mb = m.max_mb = RssMegabytesOf(pid);
  const double cpu_before = testing::CpuSecondsOf(pid);
  Prober prober(address, kind);
  std::unique_ptr<HostilePeer> peer =
      HostilePeer::Start(command, address, args);
  if (peer == nullptr) {
    m.error = "h2flood.py did not start";
    return m;
  }
  const absl::Time give_up = absl::Now() + hold + absl::Seconds(120);
  while (!peer->WaitFor(absl::Milliseconds(20))) {
    m.max_mb = std::max(m.max_mb, RssMegabytesOf(pid));
    Drain(*chain);
    if (absl::Now() > give_up) {
      m.error = "h2flood.py did not finish";
      return m;
    }
  }
  const absl::Time settled = absl::Now() + settle;
  while (absl::Now() < settled) {
    m.max_mb = std::max(m.max_mb, RssMegabytesOf(pid));
    Drain(*chain);
    absl::SleepFor(absl::Milliseconds(20));
  }
  m.after_mb = RssMegabytesOf(pid);
  m.max_mb = std::max(m.max_mb, m.after_mb);
  m.probes = prober.Stop();
  m.cpu_seconds = testing::CpuSecondsOf(pid) - cpu_before;
  absl::StatusOr<Struct> report = peer->Report();
  if (!report.ok()) {
    m.error = std::string(report.status().message());
    return m;
  }
  m.report = *std::move(report);
  return m;
}

struct Variant {
  std::string id;     // For the figures.
  std::string label;  // For the rows.
  std::vector<std::string> args;
  bool rapid_reset = false;
};

}  // namespace

Section Flood(const Config& config) {
  Section section{"flood",
                  "Hostile HTTP/2 peers: half-open streams and rapid "
                  "reset (real processes, default limits)"};
  if (SkippedWithoutBinaries(config, section, "flood")) return section;
  const HostilePeerCommand command{config.python, config.h2flood};
  if (!CanRunHostilePeer(command)) {
    section.rows.push_back(Info(
        "flood", absl::StrCat("skipped: cannot run ", config.h2flood, " with ",
                              config.python, " (python3-h2 missing?)")));
    return section;
  }
  const int streams = config.quick ? 200 : 20000;
  const absl::Duration hold =
      config.quick ? absl::Milliseconds(500) : absl::Seconds(8);
  const int reset_streams = config.quick ? 500 : 50000;
  const absl::Duration reset_for =
      config.quick ? absl::Seconds(1) : absl::Seconds(3);
  const absl::Duration settle =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(2);
  const std::vector<std::string> halfopen = {
      "--mode=halfopen", absl::StrCat("--streams=", streams),
      absl::StrCat("--hold=", absl::ToDoubleSeconds(hold))};
  const auto with = [](std::vector<std::string> args, const char* extra) {
    args.push_back(extra);
    return args;
  };
  const std::string half = absl::StrCat(streams, " half-open streams");
  const std::vector<Variant> variants = {
      {"halfopen", absl::StrCat(half, ", peer keeps to the stream limit"),
       with(halfopen, "--respect_limit")},
      {"halfopen_noack", absl::StrCat(half, ", peer never ACKs SETTINGS"),
       with(halfopen, "--no_settings_ack")},
      {"halfopen_ignore", absl::StrCat(half, ", peer exceeds the stream limit"),
       halfopen},
      {"rapidreset",
       absl::StrFormat("rapid reset, %d streams or %s", reset_streams,
                       absl::FormatDuration(reset_for)),
       {"--mode=rapidreset", absl::StrCat("--streams=", reset_streams),
        absl::StrCat("--hold=", absl::ToDoubleSeconds(reset_for))},
       true},
  };

  for (const ServerKind kind : {ServerKind::kFrontend, ServerKind::kBackend}) {
    const std::string server =
        kind == ServerKind::kFrontend ? "frontend" : "backend";
    for (const Variant& variant : variants) {
      // The backend treats a peer that ignores the limit as the frontend
      // does: one server shows it.
      if (kind == ServerKind::kBackend && variant.id == "halfopen_ignore") {
        continue;
      }
      const std::string name = absl::StrCat(server, ", ", variant.label);
      const Measured m =
          Measure(config, command, kind, variant.args,
                  variant.rapid_reset ? reset_for : hold, settle);
      if (!m.error.empty()) {
        section.rows.push_back(Info(name, absl::StrCat("failed: ", m.error)));
        continue;
      }
      const std::string key = absl::StrCat(server, ".", variant.id);
      const Summary p = m.probes.latency.Summarize();
      std::string load;
      if (variant.rapid_reset) {
        const double rate = ReportNumber(m.report, "rate_per_s");
        load = std::isnan(rate)
                   ? "the server did not read them all"
                   : absl::StrFormat("%.0f streams/s read by the server", rate);
        section.figures[key + ".rate_per_s"] = rate;
        section.figures[key + ".streams"] =
            ReportNumber(m.report, "streams_reset");
      } else {
        double held = ReportNumber(m.report, "streams_open_at_peak");
        if (std::isnan(ReportNumber(m.report, "connection_closed_at_s"))) {
          load = absl::StrFormat("%.0f streams held at once", held);
        } else {
          held = ReportNumber(m.report, "streams_ended_by_server");
          load = absl::StrFormat(
              "the server accepted %.0f, then closed the connection", held);
        }
        section.figures[key + ".streams_held"] = held;
        section.figures[key + ".server_read_s"] =
            ReportNumber(m.report, "server_read_all_at_s");
      }
      section.rows.push_back(AtMost(
          absl::StrCat(name, ": RSS, max (flood and teardown)"), m.max_mb,
          2 * m.rest_mb,
          absl::StrFormat("%.0f MB = %.1fx at rest (%.1f MB); %s", m.max_mb,
                          m.max_mb / m.rest_mb, m.rest_mb, load),
          "< 2x at rest"));
      section.rows.push_back(AtMost(
          absl::StrCat(name,
                       ": other clients meanwhile (a new connection "
                       "each, 1 s deadline)"),
          m.probes.failed, 0,
          absl::StrCat(
              m.probes.ok, " of ", m.probes.ok + m.probes.failed,
              " OK; slowest ", Ms(p.max), ", p50 ", Ms(p.p50),
              m.probes.failed > 0
                  ? absl::StrCat("; first failure ", m.probes.first_failure)
                  : ""),
          "all OK (a new connection each, 1 s deadline)"));
      section.rows.push_back(
          Info(absl::StrCat(name, ": what the server did"),
               absl::StrFormat("%s; server CPU %.1f s; RSS %.0f MB after the "
                               "connection closed",
                               DescribeServerReaction(m.report), m.cpu_seconds,
                               m.after_mb)));
      section.figures[key + ".rss_rest_mb"] = m.rest_mb;
      section.figures[key + ".rss_max_mb"] = m.max_mb;
      section.figures[key + ".rss_after_mb"] = m.after_mb;
      section.figures[key + ".server_cpu_s"] = m.cpu_seconds;
      section.figures[key + ".calls_failed"] = m.probes.failed;
      section.figures[key + ".call_max_us"] = p.max;
      section.figures[key + ".call_p50_us"] = p.p50;
    }
  }
  section.analysis =
      "A half-open stream (request headers, no grpc-timeout, no message, "
      "never ended) costs gRPC 1.51 about 12 KB of RSS while it is held, and "
      "about 20 KB at the peak when its connection closes, since tearing it "
      "down allocates too. No handler runs, so Stats and the logs see "
      "nothing. While the streams are held, other clients (on connections "
      "of their own) are answered in a few ms; when the flooding connection "
      "closes, tearing down 10000-20000 streams stalls the server for 0.3 "
      "to over 1 s, and a call caught in that window can miss a 1 s "
      "deadline. MAX_CONCURRENT_STREAMS (--max_streams) bounds a peer that "
      "acknowledges SETTINGS: one that keeps to the limit holds that many "
      "streams; one that exceeds it loses its connection (a connection "
      "error, 'Max stream count exceeded', without GOAWAY; the streams it "
      "had are answered UNAVAILABLE). But gRPC 1.51 enforces the limit only "
      "once the peer has acknowledged the SETTINGS that carry it, and never "
      "times that acknowledgement out: a peer that never acknowledges holds "
      "every stream it sends. The ResourceQuota (--max_memory) does not "
      "bound this: no stream was reclaimed even with a 64 KB quota, under "
      "which the quota is under pressure on every new stream (its "
      "destructive pass, which would cancel streams, rarely gets a turn); "
      "a quota of a few KB sends GOAWAY 'Buffers full' to connections "
      "without streams, and honest calls fail. Keepalive drops a peer that "
      "stops answering PINGs, not one that answers them; "
      "--max_connection_age (30m) plus its grace (2m) is what ends a "
      "half-open stream at last. Rapid reset: reset streams never count "
      "against MAX_CONCURRENT_STREAMS, and gRPC 1.51 frees the calls it "
      "creates only after it has read the connection's backlog (the "
      "upstream mitigations cap new streams per read), so RSS grows with "
      "what the peer queued, about 13-19 KB a stream, and other clients "
      "stall while the server reads. RSS does not come back after a flood: "
      "gRPC frees the memory, but glibc's allocator keeps it (malloc_trim(0), "
      "called from gdb in a backend after 10000 half-open streams, took its "
      "RSS from 201 MB back to 18 MB); a later flood mostly reuses it.";
  return section;
}

}  // namespace deadline::bench

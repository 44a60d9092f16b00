#include "bench/flood.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/rows.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/test_servers.h"

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

double ReportTotal(const Struct& report, absl::string_view field) {
  const Value* value = Find(report, field);
  if (value == nullptr || !value->has_struct_value()) return 0;
  double total = 0;
  for (const auto& [name, count] : value->struct_value().fields()) {
    total += count.number_value();
  }
  return total;
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

grpc::Status CallOnNewConnection(const std::string& address, ServerKind kind,
                                 absl::Duration deadline,
                                 absl::Duration* elapsed) {
  // A subchannel pool of its own: gRPC would otherwise share one
  // connection among channels to the same address.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const absl::Time start = absl::Now();
  auto channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(start + deadline));
  grpc::Status status;
  if (kind == ServerKind::kFrontend) {
    deadline::v1::FetchReply reply;
    status = deadline::v1::Frontend::NewStub(channel)->Fetch(
        &context, deadline::v1::FetchRequest(), &reply);
  } else {
    deadline::v1::WorkReply reply;
    status = deadline::v1::Backend::NewStub(channel)->Work(
        &context, deadline::v1::WorkRequest(), &reply);
  }
  *elapsed = absl::Now() - start;
  return status;
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

namespace {

using testing::RssMegabytesOf;

constexpr char kFetchPath[] = "--path=/deadline.v1.Frontend/Fetch";
constexpr char kWorkPath[] = "--path=/deadline.v1.Backend/Work";

// CPU seconds process `pid` has used (user and system), from /proc.
double CpuSecondsOf(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(file)),
                   std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  // After "pid (comm) ": state is field 3, utime 14, stime 15.
  const std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 2), ' ');
  if (fields.size() < 13) return 0;
  return (std::stod(fields[11]) + std::stod(fields[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A backend and a frontend over it, as processes, with every serving limit
// at its default.
struct Chain {
  std::unique_ptr<testing::Subprocess> backend;
  std::unique_ptr<testing::Subprocess> frontend;
  std::string backend_address;
  std::string frontend_address;

  // Reads what the servers printed, so that no pipe fills up.
  void Drain() {
    backend->output();
    frontend->output();
  }
};

// Starts the chain and gives it a few ordinary calls, so that "at rest"
// means after serving, not before; nullptr if it did not start.
std::unique_ptr<Chain> StartChain(const std::string& bin_dir) {
  auto chain = std::make_unique<Chain>();
  chain->backend = testing::StartServerProcess(
      {absl::StrCat(bin_dir, "/server/backend/backend")}, &chain->backend_address);
  if (chain->backend == nullptr) return nullptr;
  chain->frontend = testing::StartServerProcess(
      {absl::StrCat(bin_dir, "/server/frontend/frontend"),
       absl::StrCat("--backend=", chain->backend_address)},
      &chain->frontend_address);
  if (chain->frontend == nullptr) return nullptr;
  for (int i = 0; i < 5; ++i) {
    absl::Duration elapsed;
    CallOnNewConnection(chain->frontend_address, ServerKind::kFrontend,
                        absl::Seconds(5), &elapsed);
  }
  absl::SleepFor(absl::Milliseconds(200));
  return chain;
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
  const std::unique_ptr<Chain> chain = StartChain(config.bin_dir);
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
  const double cpu_before = CpuSecondsOf(pid);
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
    chain->Drain();
    if (absl::Now() > give_up) {
      m.error = "h2flood.py did not finish";
      return m;
    }
  }
  const absl::Time settled = absl::Now() + settle;
  while (absl::Now() < settled) {
    m.max_mb = std::max(m.max_mb, RssMegabytesOf(pid));
    chain->Drain();
    absl::SleepFor(absl::Milliseconds(20));
  }
  m.after_mb = RssMegabytesOf(pid);
  m.max_mb = std::max(m.max_mb, m.after_mb);
  m.probes = prober.Stop();
  m.cpu_seconds = CpuSecondsOf(pid) - cpu_before;
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
                  "10. Hostile HTTP/2 peers: half-open streams and rapid "
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

// The client: calls the frontend (or a backend's stream) with a deadline,
// or cancels the call, and reports how it ended at each hop.
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/calls.h"
#include "client/panels.h"
#include "client/report.h"
#include "client/timeline.h"
#include "common/flags.h"
#include "common/grpc_time.h"
#include "common/printable.h"
#include "common/signals.h"
#include "common/time_util.h"
#include "common/transport.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "the frontend's host:port (with --mode=stream: a backend's)");
ABSL_FLAG(std::string, mode, "unary",
          "unary: Frontend.Fetch; fanout: Frontend.FetchAll with --panels; "
          "stream: Backend.WorkStream; fetch_stream: Frontend.FetchStream");
ABSL_FLAG(absl::Duration, deadline, absl::InfiniteDuration(),
          "relative deadline, e.g. 300ms (WithTimeout); inf: none");
ABSL_FLAG(std::string, deadline_at, "",
          "absolute deadline, RFC 3339, e.g. 2026-11-23T10:00:00.5Z "
          "(WithDeadline)");
ABSL_FLAG(absl::Duration, cancel_after, absl::InfiniteDuration(),
          "cancel the call after this long (WithCancel); Ctrl+C also cancels");
ABSL_FLAG(int, steps, 10, "backend work steps (unary and both streams)");
ABSL_FLAG(absl::Duration, step, absl::Milliseconds(10),
          "length of one step (unary and both streams)");
ABSL_FLAG(std::string, kind, "sleep",
          "sleep (idle waiting) or spin (CPU) (unary and both streams)");
ABSL_FLAG(std::string, panels, "3x10x10ms",
          "fanout panels: comma-separated COUNTxSTEPSxSTEP[:spin] groups");
ABSL_FLAG(std::string, fanout, "all",
          "fanout mode: all (all-or-nothing, errgroup) or partial");
ABSL_FLAG(int, max_messages, 0,
          "stream, fetch_stream: stop reading (and cancel) after this many "
          "messages; 0: read all");
ABSL_FLAG(std::string, request_id, "",
          "the x-request-id to send (default: a new random one)");
ABSL_FLAG(std::string, timeline_svg, "",
          "also draw the call's per-hop timeline into this SVG file");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA: call over TLS, verifying the server's certificate by it");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (with --tls_key, --tls_ca)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(bool, wait_for_ready, false,
          "wait for --target to be reachable, up to the call's deadline, "
          "instead of failing at once with UNAVAILABLE");
ABSL_FLAG(bool, stats, false,
          "instead of a call, print the Stats counters of the server at "
          "--target (frontend or backend)");

namespace {

using deadline::ExitWithUsageError;

absl::Time DeadlineFromFlags(absl::Time now) {
  const absl::Duration relative = absl::GetFlag(FLAGS_deadline);
  const std::string absolute = absl::GetFlag(FLAGS_deadline_at);
  if (absolute.empty()) return now + relative;
  if (relative != absl::InfiniteDuration()) {
    ExitWithUsageError("give --deadline or --deadline_at, not both");
  }
  absl::Time at;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, absolute, &at, &error)) {
    ExitWithUsageError(absl::StrCat("bad value for --deadline_at: ", error));
  }
  return at;
}

// Out-of-range steps and step lengths are sent as they are: the servers
// answer INVALID_ARGUMENT, which is part of what this client shows.
deadline::v1::WorkRequest WorkFromFlags() {
  deadline::v1::WorkRequest work;
  work.set_steps(absl::GetFlag(FLAGS_steps));
  deadline::ToProtoDuration(absl::GetFlag(FLAGS_step),
                            work.mutable_step_duration());
  const std::string kind = absl::GetFlag(FLAGS_kind);
  if (kind == "sleep") {
    work.set_kind(deadline::v1::WORK_KIND_SLEEP);
  } else if (kind == "spin") {
    work.set_kind(deadline::v1::WORK_KIND_SPIN);
  } else {
    ExitWithUsageError("--kind must be sleep or spin");
  }
  return work;
}

deadline::v1::FetchAllRequest FanOutFromFlags() {
  deadline::v1::FetchAllRequest request;
  auto panels = deadline::ParsePanels(absl::GetFlag(FLAGS_panels));
  if (!panels.ok()) {
    ExitWithUsageError(absl::StrCat("--panels: ", panels.status().message()));
  }
  request.mutable_panels()->Assign(panels->begin(), panels->end());
  const std::string mode = absl::GetFlag(FLAGS_fanout);
  if (mode == "all") {
    request.set_mode(deadline::v1::FAN_OUT_MODE_ALL_OR_NOTHING);
  } else if (mode == "partial") {
    request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
  } else {
    ExitWithUsageError("--fanout must be all or partial");
  }
  return request;
}

// Ctrl+C (or SIGTERM) runs `cancel` instead of killing the process, so the
// cancellation reaches every hop and the outcome is still reported.
void CancelOnSignal(std::function<void()> cancel) {
  std::thread([cancel = std::move(cancel)] {
    deadline::WaitForTerminationSignal();
    std::fprintf(stderr, "client: interrupted, cancelling the call\n");
    cancel();
  }).detach();
}

void AnnounceCancelAfter(absl::Duration after) {
  std::fprintf(stderr, "client: --cancel_after=%s reached, cancelling\n",
               absl::FormatDuration(after).c_str());
}

// Prints the per-hop timeline of a finished call, and draws it if asked.
template <typename Outcome>
void ShowTimeline(const Outcome& outcome, absl::Time deadline,
                  absl::string_view title) {
  deadline::ClientView view;
  view.start = outcome.start;
  view.elapsed = outcome.elapsed;
  view.deadline = deadline;
  view.code = absl::StatusCodeToString(
      static_cast<absl::StatusCode>(outcome.status.error_code()));
  view.request_id = outcome.request_id;
  const deadline::Timeline timeline =
      deadline::MakeTimeline(title, view, outcome.trace);
  std::fputs(deadline::FormatTimeline(timeline).c_str(), stdout);
  const std::string svg_path = absl::GetFlag(FLAGS_timeline_svg);
  if (svg_path.empty()) return;
  std::ofstream svg(svg_path);
  svg << deadline::RenderSvg(timeline);
  if (!svg) {
    std::fprintf(stderr, "client: cannot write %s\n", svg_path.c_str());
  }
}

// Waits for a unary call, cancelling it on a signal or after `cancel_after`.
template <typename Call>
const auto& Await(const std::shared_ptr<Call>& call,
                  absl::Duration cancel_after) {
  CancelOnSignal([call] { call->Cancel(); });
  if (!call->WaitFor(cancel_after)) {
    AnnounceCancelAfter(cancel_after);
    call->Cancel();
  }
  return call->Wait();
}

// Reads a stream to its end (or to --max_messages), printing each message,
// cancelling it on a signal or after `cancel_after`. `start` starts it.
template <typename Call, typename Start>
int RunStream(absl::Time deadline, absl::Duration cancel_after, Start start) {
  const int max_messages = absl::GetFlag(FLAGS_max_messages);
  if (max_messages < 0) ExitWithUsageError("--max_messages must be >= 0");
  const std::shared_ptr<Call> call = start();
  CancelOnSignal([call] { call->Cancel(); });
  if (cancel_after != absl::InfiniteDuration()) {
    std::thread([call, cancel_after] {
      absl::SleepFor(cancel_after);
      AnnounceCancelAfter(cancel_after);
      call->Cancel();
    }).detach();
  }
  const deadline::ProgressStream::Outcome outcome =
      call->Read(max_messages, [](const deadline::v1::WorkProgress& progress) {
        std::fputs(deadline::FormatProgress(progress).c_str(), stdout);
        std::fflush(stdout);
      });
  if (outcome.stopped_early) {
    std::printf("stopped reading after %d messages: the stream is cancelled\n",
                outcome.messages);
    return 0;
  }
  std::printf("status:  %s%s%s\n",
              absl::StatusCodeToString(
                  static_cast<absl::StatusCode>(outcome.status.error_code()))
                  .c_str(),
              outcome.status.ok() ? "" : ": ",
              deadline::Printable(outcome.status.error_message()).c_str());
  if constexpr (std::is_same_v<Call, deadline::FetchStreamCall>) {
    ShowTimeline(outcome, deadline, "Frontend.FetchStream");
  }
  return deadline::ExitCodeFor(outcome.status.error_code());
}

int PrintStats(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = deadline::v1::Stats::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(
      deadline::ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  deadline::v1::StatsReply reply;
  const grpc::Status status = stub->GetStats(&context, {}, &reply);
  if (!status.ok()) {
    std::fprintf(stderr, "client: GetStats: %s\n",
                 status.error_message().c_str());
    return deadline::ExitCodeFor(status.error_code());
  }
  std::fputs(deadline::FormatStats(reply).c_str(), stdout);
  return 0;
}

int Run() {
  const absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      deadline::ChannelCredentialsFor({absl::GetFlag(FLAGS_tls_cert),
                                       absl::GetFlag(FLAGS_tls_key),
                                       absl::GetFlag(FLAGS_tls_ca)});
  if (!credentials.ok()) ExitWithUsageError(credentials.status().message());
  grpc::ChannelArguments args;
  // A long call to a server whose host vanishes ends within about 30 s
  // (and at its deadline, if sooner).
  deadline::SetKeepalive(deadline::Keepalive(), args);
  if (absl::GetFlag(FLAGS_wait_for_ready)) {
    // Every call on this channel waits for a connection, bounded by its
    // deadline: the channel-wide form of ClientContext::set_wait_for_ready.
    // An empty name matches every method of every service.
    args.SetServiceConfigJSON(
        R"({"methodConfig": [{"name": [{}], "waitForReady": true}]})");
  }
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      absl::GetFlag(FLAGS_target), *credentials, args);
  if (absl::GetFlag(FLAGS_stats)) return PrintStats(channel);

  const absl::Time now = absl::Now();
  const absl::Time deadline = DeadlineFromFlags(now);
  const absl::Duration cancel_after = absl::GetFlag(FLAGS_cancel_after);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string request_id = absl::GetFlag(FLAGS_request_id);
  if (mode == "stream") {
    auto stub = deadline::v1::Backend::NewStub(channel);
    return RunStream<deadline::WorkStreamCall>(deadline, cancel_after, [&] {
      return std::make_shared<deadline::WorkStreamCall>(*stub, WorkFromFlags(),
                                                        deadline, request_id);
    });
  }

  auto stub = deadline::v1::Frontend::NewStub(channel);
  if (mode == "fetch_stream") {
    deadline::v1::FetchRequest request;
    *request.mutable_work() = WorkFromFlags();
    return RunStream<deadline::FetchStreamCall>(deadline, cancel_after, [&] {
      return std::make_shared<deadline::FetchStreamCall>(*stub, request,
                                                         deadline, request_id);
    });
  }
  if (mode == "unary") {
    deadline::v1::FetchRequest request;
    *request.mutable_work() = WorkFromFlags();
    // Named, so that the call outlives every read of its outcome (the
    // signal thread holds only a copy that may go first).
    const auto call = std::make_shared<deadline::FetchCall>(
        *stub, request, deadline, request_id);
    const auto& outcome = Await(call, cancel_after);
    std::fputs(deadline::FormatOutcome(outcome, deadline - now).c_str(),
               stdout);
    ShowTimeline(outcome, deadline, "Frontend.Fetch");
    return deadline::ExitCodeFor(outcome.status.error_code());
  }
  if (mode == "fanout") {
    const auto call = std::make_shared<deadline::FetchAllCall>(
        *stub, FanOutFromFlags(), deadline, request_id);
    const auto& outcome = Await(call, cancel_after);
    std::fputs(deadline::FormatFanOut(outcome, deadline - now).c_str(), stdout);
    ShowTimeline(outcome, deadline, "Frontend.FetchAll");
    return deadline::ExitCodeFor(outcome.status.error_code());
  }
  ExitWithUsageError("--mode must be unary, fanout, stream or fetch_stream");
}

}  // namespace

int main(int argc, char** argv) {
  deadline::BlockTerminationSignals();
  deadline::ParseFlagsOrExit(
      argc, argv,
      "client: calls the deadline.v1 services and reports how the call ended.\n"
      "Usage: client [--target=HOST:PORT] [--deadline=300ms | "
      "--deadline_at=TIME] [--cancel_after=D]\n"
      "              [--mode=unary] [--steps=N --step=D --kind=sleep|spin]\n"
      "              --mode=fanout [--panels=3x10x10ms,...] "
      "[--fanout=all|partial]\n"
      "              --mode=stream --target=BACKEND [--max_messages=N] "
      "[--steps=N --step=D]\n"
      "              --mode=fetch_stream [--max_messages=N] "
      "[--steps=N --step=D]\n"
      "       client --stats [--target=HOST:PORT]\n"
      "Any call mode also takes --wait_for_ready and the --tls_* flags.\n"
      "Exit status: 0 OK, 2 usage error, 10 + the gRPC code otherwise "
      "(11 CANCELLED, 14 DEADLINE_EXCEEDED, 24 UNAVAILABLE).",
      {__FILE__});
  const int status = Run();
  std::fflush(stdout);
  // Exit without running destructors: the signal thread may still hold the
  // call, and nothing is left to clean up.
  std::_Exit(status);
}

// The client: calls Frontend.Fetch with a deadline, or cancels it.
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/fetch_call.h"
#include "common/flags.h"
#include "common/signals.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "the frontend's host:port");
ABSL_FLAG(absl::Duration, deadline, absl::InfiniteDuration(),
          "relative deadline, e.g. 300ms (WithTimeout); inf: none");
ABSL_FLAG(std::string, deadline_at, "",
          "absolute deadline, RFC 3339, e.g. 2026-11-23T10:00:00.5Z "
          "(WithDeadline)");
ABSL_FLAG(absl::Duration, cancel_after, absl::InfiniteDuration(),
          "cancel the call after this long (WithCancel); Ctrl+C also cancels");
ABSL_FLAG(int, steps, 10, "backend work steps");
ABSL_FLAG(absl::Duration, step, absl::Milliseconds(10), "length of one step");
ABSL_FLAG(std::string, kind, "sleep", "sleep (idle waiting) or spin (CPU)");
ABSL_FLAG(bool, stats, false,
          "instead of calling Fetch, print the Stats counters of the server "
          "at --target (frontend or backend)");

namespace {

absl::Time DeadlineFromFlags(absl::Time now) {
  const absl::Duration relative = absl::GetFlag(FLAGS_deadline);
  const std::string absolute = absl::GetFlag(FLAGS_deadline_at);
  if (absolute.empty()) return now + relative;
  if (relative != absl::InfiniteDuration()) {
    deadline::ExitWithUsageError("give --deadline or --deadline_at, not both");
  }
  absl::Time at;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, absolute, &at, &error)) {
    deadline::ExitWithUsageError(
        absl::StrCat("bad value for --deadline_at: ", error));
  }
  return at;
}

deadline::v1::FetchRequest RequestFromFlags() {
  deadline::v1::FetchRequest request;
  deadline::v1::WorkRequest& work = *request.mutable_work();
  work.set_steps(absl::GetFlag(FLAGS_steps));
  deadline::ToProtoDuration(absl::GetFlag(FLAGS_step),
                            work.mutable_step_duration());
  const std::string kind = absl::GetFlag(FLAGS_kind);
  if (kind == "sleep") {
    work.set_kind(deadline::v1::WORK_KIND_SLEEP);
  } else if (kind == "spin") {
    work.set_kind(deadline::v1::WORK_KIND_SPIN);
  } else {
    deadline::ExitWithUsageError("--kind must be sleep or spin");
  }
  // Out-of-range steps and step lengths are sent as they are: the servers
  // answer INVALID_ARGUMENT, which is part of what this client shows.
  return request;
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

}  // namespace

int main(int argc, char** argv) {
  deadline::BlockTerminationSignals();
  deadline::ParseFlagsOrExit(
      argc, argv,
      "client: calls deadline.v1.Frontend/Fetch and reports how it ended.\n"
      "Usage: client [--target=HOST:PORT] [--deadline=300ms | "
      "--deadline_at=TIME] [--cancel_after=D] [--steps=N --step=D "
      "--kind=sleep|spin]\n"
      "       client --stats [--target=HOST:PORT]\n"
      "Exit status: 0 OK, 2 usage error, 10 + the gRPC code otherwise "
      "(11 CANCELLED, 14 DEADLINE_EXCEEDED, 24 UNAVAILABLE).",
      __FILE__);
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials());
  if (absl::GetFlag(FLAGS_stats)) return PrintStats(channel);

  const absl::Time now = absl::Now();
  const absl::Time deadline = DeadlineFromFlags(now);
  const deadline::v1::FetchRequest request = RequestFromFlags();
  const absl::Duration cancel_after = absl::GetFlag(FLAGS_cancel_after);

  auto stub = deadline::v1::Frontend::NewStub(channel);
  auto call = std::make_shared<deadline::FetchCall>(*stub, request, deadline);

  // Ctrl+C cancels the call instead of killing the process, so the
  // cancellation reaches every hop and the outcome is still reported.
  std::thread([call] {
    deadline::WaitForTerminationSignal();
    std::fprintf(stderr, "client: interrupted, cancelling the call\n");
    call->Cancel();
  }).detach();
  if (!call->WaitFor(cancel_after)) {
    std::fprintf(stderr, "client: --cancel_after=%s reached, cancelling\n",
                 absl::FormatDuration(cancel_after).c_str());
    call->Cancel();
  }
  const deadline::FetchOutcome& outcome = call->Wait();
  std::fputs(deadline::FormatOutcome(outcome, deadline - now).c_str(), stdout);
  std::fflush(stdout);
  // Exit without running destructors: the signal thread may still hold the
  // call, and nothing is left to clean up.
  std::_Exit(deadline::ExitCodeFor(outcome.status.error_code()));
}

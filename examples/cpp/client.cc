// The example client: calls Frontend.Fetch with a deadline
// (ClientContext::set_deadline), optionally cancels it (TryCancel), and
// prints the status. The product's client, with traces and timelines, is
// client/client_main.cc. Exits 0 for OK, 2 for bad flags, and 10 + the
// gRPC code otherwise (14: DEADLINE_EXCEEDED, 11: CANCELLED).
#include <iostream>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/grpc_time.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/deadline.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "the frontend's host:port");
ABSL_FLAG(absl::Duration, deadline, absl::Milliseconds(300),
          "the call's deadline, from now; inf for none");
ABSL_FLAG(absl::Duration, cancel_after, absl::InfiniteDuration(),
          "cancel the call after this long; inf for never");
ABSL_FLAG(int, steps, 100, "the backend's work: this many steps");
ABSL_FLAG(absl::Duration, step, absl::Milliseconds(10), "of this length");
ABSL_FLAG(bool, spin, false, "CPU-bound steps instead of sleep-like ones");

int main(int argc, char** argv) {
  deadline::ParseFlagsOrExit(
      argc, argv,
      "client: calls the example frontend's Fetch.\n"
      "Usage: client [--target=HOST:PORT] [--deadline=300ms] "
      "[--cancel_after=150ms] [--steps=100] [--step=10ms] [--spin]",
      {__FILE__});
  const absl::Duration deadline = absl::GetFlag(FLAGS_deadline);
  const absl::Duration cancel_after = absl::GetFlag(FLAGS_cancel_after);
  if (deadline <= absl::ZeroDuration() ||
      cancel_after <= absl::ZeroDuration()) {
    deadline::ExitWithUsageError("--deadline and --cancel_after must be > 0");
  }

  deadline::v1::FetchRequest request;
  request.mutable_work()->set_steps(absl::GetFlag(FLAGS_steps));
  deadline::ToProtoDuration(absl::GetFlag(FLAGS_step),
                            request.mutable_work()->mutable_step_duration());
  if (absl::GetFlag(FLAGS_spin)) {
    request.mutable_work()->set_kind(deadline::v1::WORK_KIND_SPIN);
  }
  const auto frontend = deadline::v1::Frontend::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials()));

  grpc::ClientContext context;  // One per call.
  const absl::Time start = absl::Now();
  context.set_deadline(deadline::ToGrpcDeadline(start + deadline));
  deadline::v1::FetchReply reply;
  grpc::Status status;
  absl::Notification done;
  frontend->async()->Fetch(&context, &request, &reply, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(cancel_after)) {
    context.TryCancel();  // The call ends CANCELLED; so does the backend's.
  }
  done.WaitForNotification();

  std::cout << "status:  " << deadline::FromGrpcStatus(status) << "\n"
            << "elapsed: " << deadline::FormatBudget(absl::Now() - start)
            << "\n";
  if (!status.ok()) return 10 + status.error_code();
  std::cout << "frontend budget at arrival: "
            << deadline::FormatBudgetField(reply.has_budget_at_arrival(),
                                           reply.budget_at_arrival())
            << ", forwarded: "
            << deadline::FormatBudgetField(reply.has_budget_forwarded(),
                                           reply.budget_forwarded())
            << "\nbackend budget at arrival:  "
            << deadline::FormatBudgetField(
                   reply.backend().has_budget_at_arrival(),
                   reply.backend().budget_at_arrival())
            << ", steps done: " << reply.backend().steps_done() << "/"
            << request.work().steps() << "\n";
  return 0;
}

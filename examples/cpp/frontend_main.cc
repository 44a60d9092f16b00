// The example frontend's main(): flags, then serve. See frontend.h.
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "examples/cpp/frontend.h"
#include "examples/cpp/serve.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(std::string, backend, "127.0.0.1:50052", "the backend's host:port");
ABSL_FLAG(absl::Duration, reserve, absl::Milliseconds(10),
          "kept back from the caller's budget when calling the backend");
ABSL_FLAG(absl::Duration, min_budget, absl::Milliseconds(5),
          "fail fast, without calling the backend, when less than this "
          "would be forwarded");

int main(int argc, char** argv) {
  deadline::ParseFlagsOrExit(
      argc, argv,
      "frontend: the example's deadline.v1.Frontend.\n"
      "Usage: frontend [--listen=HOST:PORT] [--backend=HOST:PORT] "
      "[--reserve=10ms] [--min_budget=5ms]",
      {__FILE__});
  deadline::BudgetOptions budget;
  budget.reserve = absl::GetFlag(FLAGS_reserve);
  budget.min_budget = absl::GetFlag(FLAGS_min_budget);
  if (const absl::Status valid = deadline::ValidateBudgetOptions(budget);
      !valid.ok()) {
    deadline::ExitWithUsageError(valid.message());
  }
  deadline::example::FrontendService frontend(
      grpc::CreateChannel(absl::GetFlag(FLAGS_backend),
                          grpc::InsecureChannelCredentials()),
      budget);
  return deadline::example::ServeForever("frontend", &frontend,
                                         absl::GetFlag(FLAGS_listen));
}

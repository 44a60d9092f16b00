// Exists only for measurement: the smallest callback-API chain of the
// deadline.v1 contract on gRPC 1.51, none of the project's features (no
// budget, trace, stats, logs, health or reflection), for bench/compare.cc to
// hold the project's chain against. Not an example to copy.
//
//   bare_chain --role=backend  --listen=HOST:PORT
//   bare_chain --role=frontend --listen=HOST:PORT --backend=HOST:PORT
//
// Prints "bare_chain listening on HOST:PORT" once serving; runs until killed.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "proto/deadline.grpc.pb.h"

ABSL_FLAG(std::string, role, "", "frontend or backend");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(std::string, backend, "", "the backend's host:port (frontend role)");

namespace {

using deadline::v1::Backend;
using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;
using deadline::v1::Frontend;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

// Work answers OK at once.
class BareBackend final : public Backend::CallbackService {
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const WorkRequest*, WorkReply*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Fetch calls Work with a context derived from the caller's (deadline and
// cancellation propagate) and finishes from the call's completion callback.
class BareFrontend final : public Frontend::CallbackService {
 public:
  explicit BareFrontend(const std::string& backend)
      : stub_(Backend::NewStub(grpc::CreateChannel(
            backend, grpc::InsecureChannelCredentials()))) {}

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const FetchRequest* request,
                                  FetchReply* reply) override {
    return new Call(*stub_, *context, request->work(),
                    *reply->mutable_backend());
  }

 private:
  class Call final : public grpc::ServerUnaryReactor {
   public:
    Call(Backend::Stub& stub, grpc::CallbackServerContext& context,
         const WorkRequest& work, WorkReply& reply)
        : child_(grpc::ClientContext::FromCallbackServerContext(context)) {
      stub.async()->Work(child_.get(), &work, &reply,
                         [this](grpc::Status status) { Finish(status); });
    }
    void OnDone() override { delete this; }

   private:
    std::unique_ptr<grpc::ClientContext> child_;
  };

  std::unique_ptr<Backend::Stub> stub_;
};

}  // namespace

int main(int argc, char** argv) {
  // The one process setting the project's servers make too
  // (server/serving/server_main.cc: Debian's Abseil checks lock order on every
  // Mutex lock, gRPC's included), so the two chains compare like for like.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  deadline::ParseFlagsOrExit(
      argc, argv,
      "bare_chain: the smallest callback-API chain, for measurement only.\n"
      "Usage: bare_chain --role=backend|frontend [--listen=HOST:PORT] "
      "[--backend=HOST:PORT]",
      {__FILE__});
  const std::string role = absl::GetFlag(FLAGS_role);
  const std::string backend = absl::GetFlag(FLAGS_backend);
  std::unique_ptr<grpc::Service> service;
  if (role == "backend") {
    service = std::make_unique<BareBackend>();
  } else if (role == "frontend" && !backend.empty()) {
    service = std::make_unique<BareFrontend>(backend);
  } else {
    deadline::ExitWithUsageError(
        "--role must be backend, or frontend with --backend");
  }

  const std::string listen = absl::GetFlag(FLAGS_listen);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "bare_chain: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("bare_chain listening on %s:%d\n",
              listen.substr(0, listen.rfind(':')).c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}

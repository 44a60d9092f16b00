#include "server/frontend/checked_replies.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/interceptor.h"

namespace deadline {
namespace {

using grpc::experimental::InterceptionHookPoints;

class CheckReply final : public grpc::experimental::Interceptor {
 public:
  explicit CheckReply(const std::string& peer) : peer_(peer) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* call) override {
    if (call->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        call->GetRecvMessage() == nullptr) {
      unparsed_ = true;  // gRPC could not deserialize what arrived.
    }
    if (call->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_STATUS) &&
        unparsed_) {
      grpc::Status* status = call->GetRecvStatus();
      if (status->ok()) {
        *status = grpc::Status(
            grpc::StatusCode::INTERNAL,
            absl::StrCat(peer_,
                         " answered OK with a reply that does not parse"));
      }
    }
    call->Proceed();
  }

 private:
  const std::string& peer_;
  bool unparsed_ = false;
};

class CheckRepliesFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit CheckRepliesFactory(std::string peer) : peer_(std::move(peer)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    // A stream's last read never has a message: to this hook point the end
    // of every stream looks like a reply that did not parse.
    if (info->type() != grpc::experimental::ClientRpcInfo::Type::UNARY) {
      return nullptr;
    }
    return new CheckReply(peer_);
  }

 private:
  const std::string peer_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
CheckedReplies(std::string peer) {
  return std::make_unique<CheckRepliesFactory>(std::move(peer));
}

}  // namespace deadline

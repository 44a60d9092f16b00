// Standard gRPC services on both servers: health (grpc.health.v1) and
// server reflection, spoken on the wire by hand so this test needs neither
// service's .proto.
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string text;
  if (buffer.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      text.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return text;
}

grpc::ByteBuffer FromString(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// grpc.health.v1.Health/Check for the whole server: 1 SERVING,
// 2 NOT_SERVING, -1 when the call failed.
int HealthOf(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  const grpc::ByteBuffer request = FromString("");  // service: ""
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return -1;
  const std::string bytes = ToString(response);
  // HealthCheckResponse{status = N}: field 1, varint.
  return bytes.size() == 2 && bytes[0] == '\x08' ? bytes[1] : -1;
}

// The raw ServerReflectionResponse to a list_services request.
std::string ListServices(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  auto call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok = false;
  const auto step = [&](int id) {
    return cq.Next(&tag, &ok) && tag == reinterpret_cast<void*>(id) && ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return "";
  // ServerReflectionRequest{list_services = ""}: field 7, length 0.
  call->Write(FromString(std::string("\x3a\x00", 2)),
              reinterpret_cast<void*>(2));
  if (!step(2)) return "";
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  if (!step(3)) return "";
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return ToString(response);
}

TEST(StandardServicesTest, BothServersAreHealthyWhileUp) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  EXPECT_EQ(HealthOf(backend.channel()), 1);
  EXPECT_EQ(HealthOf(frontend.channel()), 1);
}

TEST(StandardServicesTest, BackendReportsNotServingWhileShuttingDown) {
  TestBackend backend;
  ASSERT_EQ(HealthOf(backend.channel()), 1);
  std::thread stopper(
      [&] { backend.Stop(absl::ZeroDuration(), absl::Seconds(2)); });
  // During the drain the server still answers, and says it is going away.
  EXPECT_TRUE(WaitUntil([&] { return HealthOf(backend.channel()) == 2; },
                        absl::Seconds(1)));
  stopper.join();
  EXPECT_EQ(HealthOf(backend.channel()), -1);  // Gone.
}

TEST(StandardServicesTest, ReflectionListsTheServices) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  const std::string backend_services = ListServices(backend.channel());
  EXPECT_THAT(backend_services, HasSubstr("deadline.v1.Backend"));
  EXPECT_THAT(backend_services, HasSubstr("deadline.v1.Stats"));
  EXPECT_THAT(backend_services, HasSubstr("grpc.health.v1.Health"));
  const std::string frontend_services = ListServices(frontend.channel());
  EXPECT_THAT(frontend_services, HasSubstr("deadline.v1.Frontend"));
  EXPECT_THAT(frontend_services, HasSubstr("deadline.v1.Stats"));
}

}  // namespace
}  // namespace deadline::testing

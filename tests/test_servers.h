#ifndef DEADLINE_TESTS_TEST_SERVERS_H_
#define DEADLINE_TESTS_TEST_SERVERS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend_service.h"
#include "server/frontend_service.h"
#include "server/server_runner.h"
#include "server/stats_service.h"

namespace deadline::testing {

// A real backend server in the test process on 127.0.0.1, port 0.
class TestBackend {
 public:
  explicit TestBackend(const BackendOptions& options = {});
  ~TestBackend() { Stop(absl::ZeroDuration()); }

  const std::string& address() const { return running_.address; }
  StatsSnapshot stats() const { return service_.stats().Snapshot(); }
  deadline::v1::Backend::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // Graceful stop (idempotent): see StopServer().
  void Stop(absl::Duration grace, absl::Duration drain = absl::ZeroDuration());

 private:
  BackendService service_;
  StatsService stats_service_;
  RunningServer running_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<deadline::v1::Backend::Stub> stub_;
  bool stopped_ = false;
};

// A real frontend server in the test process on 127.0.0.1, port 0, calling
// the backends at `backends`.
class TestFrontend {
 public:
  TestFrontend(const std::vector<std::string>& backends,
               const FrontendOptions& options = {});
  TestFrontend(const std::string& backend, const FrontendOptions& options = {})
      : TestFrontend(std::vector<std::string>{backend}, options) {}
  ~TestFrontend() { Stop(absl::ZeroDuration()); }

  const std::string& address() const { return running_.address; }
  StatsSnapshot stats() const { return service_.stats().Snapshot(); }
  deadline::v1::Frontend::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  void Stop(absl::Duration grace);

 private:
  FrontendService service_;
  StatsService stats_service_;
  RunningServer running_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<deadline::v1::Frontend::Stub> stub_;
  bool stopped_ = false;
};

// Polls `condition` every millisecond until it holds or `timeout` passes;
// returns its last value. For waiting on effects that cross threads, with a
// generous timeout, instead of sleeping a fixed time.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(5));

// A work request of `steps` sleep-like steps of `step`.
deadline::v1::WorkRequest Work(int steps, absl::Duration step);

// Reads a Duration field that the test expects to be set and valid.
absl::Duration ToDuration(const google::protobuf::Duration& proto);

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_TEST_SERVERS_H_

#ifndef DEADLINE_TESTS_SUPPORT_TEST_SERVERS_H_
#define DEADLINE_TESTS_SUPPORT_TEST_SERVERS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend/backend_call.h"
#include "server/frontend/frontend_service.h"
#include "server/serving/server_runner.h"
#include "server/observability/stats_service.h"

// What tests and benchmarks share to start servers and look at them: real
// servers in this process on 127.0.0.1, port 0; channels; Stats; /proc.
namespace deadline::testing {

// Which backend service runs.
enum class BackendApi { kCallback, kSync };
std::string ApiName(BackendApi api);  // "Callback", "Sync": for test names.

// A real backend server in the test process.
class TestBackend {
 public:
  // Serves as `serving` says (default: plaintext on 127.0.0.1:0). stub()
  // and channel() are plaintext: with `serving.tls` set, reach the server
  // on a channel of your own (see ChannelCredentialsFor()).
  explicit TestBackend(BackendOptions options = {},
                       BackendApi api = BackendApi::kCallback,
                       const ServingOptions& serving = {});
  explicit TestBackend(BackendApi api) : TestBackend(BackendOptions{}, api) {}
  ~TestBackend() { Stop(absl::ZeroDuration()); }

  const std::string& address() const { return running_.address; }
  StatsSnapshot stats() const { return stats_(); }
  deadline::v1::Backend::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // Waits, on the end-of-call hook, until `calls` calls have ended here
  // since the start; returns whether they did within `timeout`.
  bool WaitForEnded(int calls, absl::Duration timeout = absl::Seconds(5));
  // This hop of each call that ended, in the order they ended.
  std::vector<deadline::v1::HopTrace> ended() const;
  // This hop of the call with `request_id`, waiting on the end-of-call hook
  // up to `timeout` for it to end.
  absl::optional<deadline::v1::HopTrace> WaitForCall(
      const std::string& request_id, absl::Duration timeout);

  // Graceful stop (idempotent): see StopServer().
  void Stop(absl::Duration grace, absl::Duration drain = absl::ZeroDuration());

 private:
  mutable absl::Mutex mu_;
  std::vector<deadline::v1::BudgetTrace> ended_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Service> service_;
  std::function<StatsSnapshot()> stats_;
  std::function<void(absl::Time)> begin_shutdown_;
  std::unique_ptr<StatsService> stats_service_;
  RunningServer running_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<deadline::v1::Backend::Stub> stub_;
  bool stopped_ = false;
};

// A real frontend server in the test process, calling the backends at
// `backends`.
class TestFrontend {
 public:
  TestFrontend(const std::vector<std::string>& backends,
               const FrontendOptions& options = {});
  TestFrontend(const std::string& backend, const FrontendOptions& options = {})
      : TestFrontend(std::vector<std::string>{backend}, options) {}
  ~TestFrontend() { Stop(absl::ZeroDuration()); }

  const std::string& address() const { return running_.address; }
  StatsSnapshot stats() const { return service_.Snapshot(); }
  FrontendService& service() { return service_; }
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

// A plaintext channel to `address`.
std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);

// The Stats of the server at `address` (or on `channel`); the test fails
// (and the reply is empty) when it does not answer within 5 s.
deadline::v1::StatsReply FetchStats(const std::string& address);
deadline::v1::StatsReply FetchStats(grpc::Channel& channel);

// Threads and resident memory of process `pid`, from /proc; -1 when unknown.
int ThreadsOf(pid_t pid);
double RssMegabytesOf(pid_t pid);

// Polls `condition` every millisecond until it holds or `timeout` passes;
// returns its last value. For effects no hook reports (a count of a
// process elsewhere), with a generous timeout, instead of sleeping a fixed
// time.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(5));

// A work request of `steps` sleep-like (or CPU-bound) steps of `step`.
deadline::v1::WorkRequest Work(int steps, absl::Duration step,
                               bool spin = false);

// Reads a Duration field that the test expects to be set and valid.
absl::Duration ToDuration(const google::protobuf::Duration& proto);

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_TEST_SERVERS_H_

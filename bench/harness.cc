#include "bench/harness.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/time_util.h"

namespace deadline::bench {

Servers::Servers(const BackendOptions& backend_options,
                 const FrontendOptions& options)
    : backend_(backend_options),
      frontend_(backend_.address(), options),
      bare_service_(bare_counters_) {
  absl::StatusOr<RunningServer> bare =
      StartServer("127.0.0.1:0", {&bare_service_});
  if (!bare.ok()) {
    std::fprintf(stderr, "bench: %s\n", bare.status().ToString().c_str());
    std::exit(1);
  }
  bare_ = *std::move(bare);
  bare_stub_ = deadline::v1::Stats::NewStub(testing::ChannelTo(bare_.address));
}

Servers::~Servers() {
  frontend_.Stop(absl::ZeroDuration());
  backend_.Stop(absl::ZeroDuration());
  StopServer(*bare_.server, absl::ZeroDuration(), absl::ZeroDuration());
}

WorkCall::WorkCall(deadline::v1::Backend::Stub& stub,
                   const deadline::v1::WorkRequest& request,
                   absl::Time deadline)
    : UnaryCall(request, deadline, "", RealClock()) {
  Begin([&stub](grpc::ClientContext* context,
                const deadline::v1::WorkRequest* request,
                deadline::v1::WorkReply* reply,
                std::function<void(grpc::Status)> done) {
    stub.async()->Work(context, request, reply, std::move(done));
  });
}

BareCall::BareCall(deadline::v1::Stats::Stub& stub, absl::Time deadline)
    : UnaryCall(deadline::v1::GetStatsRequest(), deadline, "", RealClock()) {
  Begin([&stub](grpc::ClientContext* context,
                const deadline::v1::GetStatsRequest* request,
                deadline::v1::StatsReply* reply,
                std::function<void(grpc::Status)> done) {
    stub.async()->GetStats(context, request, reply, std::move(done));
  });
}

double CpuSecondsOf(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  const std::string stat((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  // The name, in parentheses, may hold spaces: count fields after it.
  const size_t name_end = stat.rfind(") ");
  if (name_end == std::string::npos) return NAN;
  // From the third field (state) on; utime and stime are the 14th and 15th.
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(name_end + 2), ' ');
  int64_t user = 0;
  int64_t system = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &user) ||
      !absl::SimpleAtoi(fields[12], &system)) {
    return NAN;
  }
  return static_cast<double>(user + system) / sysconf(_SC_CLK_TCK);
}

double ClosedLoopRate(
    int in_flight, absl::Duration duration,
    const std::function<void(std::function<void()>)>& start_call) {
  struct Loop {
    const std::function<void(std::function<void()>)>& start_call;
    absl::Time end;
    std::atomic<int64_t> completed{0};
    std::atomic<int> running{0};
    absl::Notification all_done;

    void Next() {
      start_call([this] {
        completed.fetch_add(1, std::memory_order_relaxed);
        if (absl::Now() < end) {
          Next();
        } else if (running.fetch_sub(1) == 1) {
          all_done.Notify();
        }
      });
    }
  };
  Loop loop{start_call, absl::Now() + duration};
  loop.running = in_flight;
  const absl::Time start = absl::Now();
  for (int i = 0; i < in_flight; ++i) loop.Next();
  loop.all_done.WaitForNotification();
  const absl::Duration took = absl::Now() - start;
  return static_cast<double>(loop.completed.load()) /
         absl::ToDoubleSeconds(took);
}

}  // namespace deadline::bench

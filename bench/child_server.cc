#include "bench/child_server.h"

#include <signal.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "tests/support/proc_stats.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {

std::unique_ptr<ChildServer> ChildServer::Start(const std::string& bin_dir,
                                                absl::string_view binary,
                                                std::vector<std::string> args) {
  std::unique_ptr<ChildServer> server(new ChildServer);
  args.insert(args.begin(), absl::StrCat(bin_dir, "/", binary));
  server->process_ =
      testing::StartServerProcess(std::move(args), &server->address_);
  if (server->process_ == nullptr) return nullptr;
  server->pid_ = server->process_->pid();
  server->channel_ = testing::ChannelTo(server->address_);
  // What it printed until it listened (its settings), before the drainer
  // takes over.
  const size_t copied = server->process_->output().size();
  {
    absl::MutexLock lock(&server->mu_);
    server->output_ = server->process_->output();
  }
  server->drainer_ =
      std::thread([s = server.get(), copied] { s->Drain(copied); });
  return server;
}

ChildServer::~ChildServer() {
  StopDraining();
  // The Subprocess kills and reaps the process.
}

void ChildServer::StopDraining() {
  stop_ = true;
  if (drainer_.joinable()) drainer_.join();
}

absl::optional<int> ChildServer::Stop(absl::Duration timeout) {
  StopDraining();  // From here on, this thread alone reads the process.
  process_->Signal(SIGTERM);
  const absl::optional<int> status = process_->Wait(timeout);
  absl::MutexLock lock(&mu_);
  output_ = process_->output();
  return status;
}

void ChildServer::Drain(size_t copied) {
  while (!stop_.load()) {
    // Blocks up to 20 ms reading whatever arrives; the needle never comes.
    process_->WaitForLine("\x01", absl::Milliseconds(20));
    const std::string& out = process_->output();
    if (out.size() > copied) {
      absl::MutexLock lock(&mu_);
      output_.append(out, copied, std::string::npos);
      copied = out.size();
    }
  }
}

deadline::v1::StatsReply ChildServer::Stats() const {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  deadline::v1::StatsReply reply;
  auto stub = deadline::v1::Stats::NewStub(channel_);
  if (!stub->GetStats(&context, deadline::v1::GetStatsRequest(), &reply).ok()) {
    return deadline::v1::StatsReply();
  }
  return reply;
}

bool ChildServer::Alive() const { return testing::IsRunning(pid_); }

std::string ChildServer::TakeLog() {
  absl::MutexLock lock(&mu_);
  const size_t end = output_.rfind('\n');
  if (end == std::string::npos || end + 1 <= taken_) return "";
  std::string lines = output_.substr(taken_, end + 1 - taken_);
  taken_ = end + 1;
  return lines;
}

std::string ChildServer::AllOutput() {
  absl::MutexLock lock(&mu_);
  return output_;
}

int64_t WaitIdle(ChildServer& server, absl::Duration timeout) {
  int64_t in_flight = -1;
  testing::WaitUntil(
      [&] {
        in_flight = server.Stats().calls_in_flight();
        return in_flight == 0;
      },
      timeout);
  return in_flight;
}

}  // namespace deadline::bench

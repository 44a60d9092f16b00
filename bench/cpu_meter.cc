#include "bench/cpu_meter.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/rows.h"
#include "tests/support/proc_stats.h"

namespace deadline::bench {
namespace {

using testing::CpuSecondsOf;
using testing::RunQueueWaitSecondsOf;

// A thread of this process that sleeps 1 ms at a time while it lives and
// notes how late it wakes.
class StallWatch {
 public:
  StallWatch()
      : thread_([this] {
          while (!stop_.load()) {
            const absl::Time before = absl::Now();
            absl::SleepFor(absl::Milliseconds(1));
            const absl::Duration late =
                absl::Now() - before - absl::Milliseconds(1);
            absl::MutexLock lock(&mu_);
            worst_ = std::max(worst_, late);
            over_5ms_ += late > absl::Milliseconds(5);
          }
        }) {}
  ~StallWatch() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // "3 wake-ups > 5 ms late, the worst 12.3 ms".
  std::string ToString() {
    absl::MutexLock lock(&mu_);
    return absl::StrFormat("%d wake-ups > 5 ms late, the worst %s", over_5ms_,
                           Ms(absl::ToDoubleMicroseconds(worst_)));
  }

 private:
  absl::Mutex mu_;
  absl::Duration worst_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  int over_5ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

CpuMeter::CpuMeter(std::vector<pid_t> pids) : pids_(std::move(pids)) {
  pids_.push_back(getpid());
  Restart();
}

void CpuMeter::Restart() {
  start_ = absl::Now();
  seconds_.clear();
  waits_.clear();
  for (pid_t pid : pids_) {
    seconds_.push_back(CpuSecondsOf(pid));
    waits_.push_back(RunQueueWaitSecondsOf(pid));
  }
}

std::vector<double> CpuMeter::Cores() const {
  const double wall = absl::ToDoubleSeconds(absl::Now() - start_);
  std::vector<double> cores;
  for (size_t i = 0; i < pids_.size(); ++i) {
    cores.push_back((CpuSecondsOf(pids_[i]) - seconds_[i]) / wall);
  }
  return cores;
}

std::vector<double> CpuMeter::WaitMsPerSecond() const {
  const double wall = absl::ToDoubleSeconds(absl::Now() - start_);
  std::vector<double> waits;
  for (size_t i = 0; i < pids_.size(); ++i) {
    waits.push_back((RunQueueWaitSecondsOf(pids_[i]) - waits_[i]) * 1000 /
                    wall);
  }
  return waits;
}

RunLoad Metered(CpuMeter& cpu, const std::function<void()>& run) {
  cpu.Restart();
  StallWatch stalls;
  run();
  stalls.Stop();
  RunLoad load;
  load.cores = cpu.Cores();
  load.waits = cpu.WaitMsPerSecond();
  load.stalls = stalls.ToString();
  return load;
}

}  // namespace deadline::bench

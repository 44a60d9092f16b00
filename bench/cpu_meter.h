#ifndef DEADLINE_BENCH_CPU_METER_H_
#define DEADLINE_BENCH_CPU_METER_H_

// What the machine's two cores did during a run under load: the CPU each
// process used, how long their threads waited for a CPU, and whether this
// process (the client) stalled. Benchmarks and servers share the cores, so
// a figure of theirs means little without these.

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace deadline::bench {

// CPU cores the processes used over an interval, and how long their
// threads waited for a CPU. Not thread-safe.
class CpuMeter {
 public:
  // Meters `pids` and this process, and starts the interval.
  explicit CpuMeter(std::vector<pid_t> pids);
  // Starts the interval again.
  void Restart();
  // Cores each process used since Restart(), in the order given, this
  // process last.
  std::vector<double> Cores() const;
  // Milliseconds per second that each process's threads, together, spent
  // runnable but waiting for a CPU since Restart(); the same order.
  std::vector<double> WaitMsPerSecond() const;

 private:
  std::vector<pid_t> pids_;
  absl::Time start_;
  std::vector<double> seconds_;
  std::vector<double> waits_;
};

// What the CPUs did during one run (see Metered()).
struct RunLoad {
  std::vector<double> cores;  // CpuMeter::Cores().
  std::vector<double> waits;  // CpuMeter::WaitMsPerSecond().
  // How late a thread of this process that slept 1 ms at a time woke:
  // "3 wake-ups > 5 ms late, the worst 12.3 ms". When it woke late, every
  // thread of this process (the client) could have too.
  std::string stalls;
};

// Runs `run` on this thread, metered by `cpu` (restarted first) and a
// thread of this process that notes its own late wake-ups meanwhile.
RunLoad Metered(CpuMeter& cpu, const std::function<void()>& run);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_CPU_METER_H_

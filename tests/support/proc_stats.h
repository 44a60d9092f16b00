#ifndef DEADLINE_TESTS_SUPPORT_PROC_STATS_H_
#define DEADLINE_TESTS_SUPPORT_PROC_STATS_H_

// What a process has used, as Linux reports it in /proc: CPU time, time
// spent waiting for a CPU, open files, whether it still runs or has
// stopped. (Threads and resident memory: ThreadsOf() and RssMegabytesOf()
// in test_servers.h.)
//
// Each function reads /proc once and may be called from any thread. A
// reading that fails (no such process, or /proc not as expected) is NaN
// for the figures in seconds, so that a difference or ratio computed from
// it is NaN too and shows as missing instead of as a wrong number.

#include <sys/types.h>

namespace deadline::testing {

// CPU time (user + system) process `pid` has used, in seconds, from
// /proc/PID/stat: in clock ticks, 10 ms on this machine's kernels, so
// compare readings over intervals of seconds. NaN when unknown.
double CpuSecondsOf(pid_t pid);

// CPU time (user + system) this process has used, in seconds, from
// getrusage(): to the microsecond, for intervals too short for ticks.
double OwnCpuSeconds();

// CpuSecondsOf(pid) plus that of its children (e.g. nginx's master and its
// workers). NaN when the process's own is unknown.
double CpuSecondsWithChildrenOf(pid_t pid);

// Seconds the threads of process `pid`, together, have spent runnable but
// waiting for a CPU (the second field of /proc/PID/task/*/schedstat). NaN
// when unknown.
double RunQueueWaitSecondsOf(pid_t pid);

// Open files of process `pid` (entries in /proc/PID/fd); -1 when unknown.
int FdsOf(pid_t pid);

// Whether process `pid` still runs: it exists and is neither a zombie (a
// child that ended and was not reaped yet) nor dead.
bool IsRunning(pid_t pid);

// Whether every thread of process `pid` has stopped (state T: SIGSTOP).
// kill() returns before a thread running on another core has stopped.
bool IsStopped(pid_t pid);

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_PROC_STATS_H_

#ifndef DEADLINE_BENCH_PARTIAL_RUN_H_
#define DEADLINE_BENCH_PARTIAL_RUN_H_

// One run of the partial benchmark (bench/partial.cc): PARTIAL fan-outs at
// Poisson arrivals, and where each call's time went, from the client's
// records, the calls' traces and the servers' call logs.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/child_server.h"
#include "bench/cpu_meter.h"
#include "bench/distribution.h"
#include "proto/deadline.grpc.pb.h"

namespace deadline::bench {

// What DrivePartial() measured.
struct PartialRun {
  double offered = 0;
  int calls = 0;
  int deadline_exceeded = 0;  // As the client saw it.
  int client_timer = 0;       // ... ended by the client's own timer.
  int late = 0;               // Answered after the deadline.
  int ok_as_expected = 0;     // OK, the 2 fast panels OK and 2 timed out.
  Summary lateness;
  std::string codes;
  RunLoad load;  // CPU: backends, frontend, client.
  // Late calls in bursts (deadlines less than 20 ms apart): how many
  // bursts, and the most calls in one.
  int bursts = 0;
  int largest_burst = 0;
  // Over every call, and over the late ones.
  Distribution inflation, late_inflation;
  Distribution skew, to_handler, conclude_lag, transit, backend_skew,
      backend_stop, panel_end_lag;
  Distribution late_skew, late_to_handler, late_conclude_lag, late_backend_skew,
      late_backend_stop, late_panel_end_lag;
  int late_logged = 0;
  int late_by_frontend_timer = 0;  // Late calls with a panel so ended.
  int by_frontend_timer = 0;       // Calls with a panel so ended.
  std::vector<std::string> worst;  // The latest calls, each in one line.
};

// Sends `request` as FetchAll calls with `deadline` at `rate` calls per
// second for `duration`, asking each call's trace; `frontend` (over
// `backends`) answers them with `reserve`. Reads the servers' call logs
// (when `logged`: the frontend's is --log=all) to account for each call's
// time. `cpu` meters the servers and this process.
PartialRun DrivePartial(double rate, absl::Duration duration,
                        absl::Duration reserve, bool logged,
                        deadline::v1::Frontend::Stub& stub,
                        const deadline::v1::FetchAllRequest& request,
                        absl::Duration deadline, ChildServer& frontend,
                        std::vector<std::unique_ptr<ChildServer>>& backends,
                        CpuMeter& cpu);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_PARTIAL_RUN_H_

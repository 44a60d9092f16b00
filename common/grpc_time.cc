#include "common/grpc_time.h"

#include <algorithm>

namespace deadline {

absl::Time FromGrpcDeadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

absl::Time FromGrpcTimespec(gpr_timespec t) {
  if (t.tv_sec == gpr_inf_future(t.clock_type).tv_sec) {
    return absl::InfiniteFuture();
  }
  if (t.tv_sec == gpr_inf_past(t.clock_type).tv_sec) {
    return absl::InfinitePast();
  }
  if (t.clock_type != GPR_CLOCK_REALTIME) {
    t = gpr_convert_clock_type(t, GPR_CLOCK_REALTIME);
  }
  // absl::Time spans billions of years: no overflow here.
  return absl::FromUnixSeconds(t.tv_sec) + absl::Nanoseconds(t.tv_nsec);
}

absl::Time DeadlineOf(const grpc::ServerContextBase& context) {
  return FromGrpcTimespec(context.raw_deadline());
}

std::chrono::system_clock::time_point ToGrpcDeadline(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) {
    return std::chrono::system_clock::time_point::max();
  }
  // gRPC reads a time before 1970 as "no deadline": an expired deadline
  // must stay expired.
  return absl::ToChronoTime(
      std::max(deadline, absl::UnixEpoch() + absl::Nanoseconds(1)));
}

}  // namespace deadline

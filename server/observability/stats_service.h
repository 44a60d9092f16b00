#ifndef DEADLINE_SERVER_OBSERVABILITY_STATS_SERVICE_H_
#define DEADLINE_SERVER_OBSERVABILITY_STATS_SERVICE_H_

#include <functional>
#include <utility>

#include "proto/deadline.grpc.pb.h"
#include "server/observability/call_stats.h"

namespace deadline {

// Serves deadline.v1.Stats from a server's counters.
class StatsService final : public deadline::v1::Stats::CallbackService {
 public:
  // `snapshot` reads the counters; thread-safe and quick.
  explicit StatsService(std::function<StatsSnapshot()> snapshot)
      : snapshot_(std::move(snapshot)) {}
  // Reads `stats`, which must outlive the service.
  explicit StatsService(const CallStats& stats)
      : StatsService([&stats] { return stats.Snapshot(); }) {}

  grpc::ServerUnaryReactor* GetStats(
      grpc::CallbackServerContext* context,
      const deadline::v1::GetStatsRequest* request,
      deadline::v1::StatsReply* reply) override;

 private:
  const std::function<StatsSnapshot()> snapshot_;
};

void ToProto(const StatsSnapshot& snapshot, deadline::v1::StatsReply* reply);

}  // namespace deadline

#endif  // DEADLINE_SERVER_OBSERVABILITY_STATS_SERVICE_H_

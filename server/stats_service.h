#ifndef DEADLINE_SERVER_STATS_SERVICE_H_
#define DEADLINE_SERVER_STATS_SERVICE_H_

#include "proto/deadline.grpc.pb.h"
#include "server/call_stats.h"

namespace deadline {

// Serves deadline.v1.Stats from a CallStats, which must outlive the service.
class StatsService final : public deadline::v1::Stats::CallbackService {
 public:
  explicit StatsService(const CallStats& stats) : stats_(stats) {}

  grpc::ServerUnaryReactor* GetStats(
      grpc::CallbackServerContext* context,
      const deadline::v1::GetStatsRequest* request,
      deadline::v1::StatsReply* reply) override;

 private:
  const CallStats& stats_;
};

void ToProto(const StatsSnapshot& snapshot, deadline::v1::StatsReply* reply);

}  // namespace deadline

#endif  // DEADLINE_SERVER_STATS_SERVICE_H_

#include "server/observability/stats_service.h"

#include "common/time_util.h"

namespace deadline {

void ToProto(const StatsSnapshot& s, deadline::v1::StatsReply* reply) {
  reply->set_calls_started(s.started);
  reply->set_calls_ok(s.ok);
  reply->set_calls_deadline_exceeded(s.deadline_exceeded);
  reply->set_calls_cancelled(s.cancelled);
  reply->set_calls_rejected(s.rejected);
  reply->set_calls_invalid(s.invalid);
  reply->set_calls_failed(s.failed);
  reply->set_calls_overloaded(s.overloaded);
  reply->set_calls_shed(s.shed);
  reply->set_queue_depth(s.queue_depth);
  reply->set_calls_in_flight(s.in_flight);
  reply->set_steps_done(s.steps_done);
  reply->set_records(s.records);
  reply->set_records_failed(s.records_failed);
  reply->set_calls_arrived_late(s.arrived_late);
  reply->set_deadline_at_ignored(s.deadline_at_ignored);
  ToProtoDuration(s.max_stop_latency, reply->mutable_max_stop_latency());
}

grpc::ServerUnaryReactor* StatsService::GetStats(
    grpc::CallbackServerContext* context,
    const deadline::v1::GetStatsRequest* /*request*/,
    deadline::v1::StatsReply* reply) {
  ToProto(snapshot_(), reply);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace deadline

#include "server/frontend/frontend_call.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/deadline_at.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/deadline/work_request.h"
#include "server/serving/raw_messages.h"

namespace deadline {
namespace {

using deadline::v1::HopTrace;

// The address that served a call: "127.0.0.1:50052" from gRPC's
// "ipv4:127.0.0.1:50052". A call that never reached a server has no peer;
// gRPC then gives the channel's target, which for a replica set is a list:
// `fallback` (the backend's name) says it better.
std::string AddressOf(const grpc::ClientContext& context,
                      absl::string_view fallback) {
  std::string peer = context.peer();
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (absl::StartsWith(peer, scheme)) peer = peer.substr(scheme.size());
  }
  if (peer.empty() || absl::StrContains(peer, ',')) {
    return std::string(fallback);
  }
  return peer;
}

}  // namespace

absl::StatusCode GoneCallerCode(absl::Time now, absl::Time deadline) {
  return AtOrPast(deadline, now) ? absl::StatusCode::kDeadlineExceeded
                                 : absl::StatusCode::kCancelled;
}

absl::string_view WhyCallerWent(absl::Time gone, absl::Time shutdown_at) {
  return gone >= shutdown_at ? "the server shut down" : "the caller went away";
}

bool AdmitFetchRequest(FrontendCall& call, const grpc::ByteBuffer& bytes,
                       deadline::v1::FetchRequest& request,
                       absl::Duration cap) {
  const absl::Status received = ParseRequest(bytes, request);
  const absl::Status valid =
      ParseWorkRequest(request.work(), call.frontend().options().limits,
                       "work.")
          .status();
  return call.Admit(received, request.work().steps(), valid, cap);
}

void ForgetContext::operator()(grpc::ClientContext* context) const {
  if (contexts != nullptr) contexts->Forget(*context);
  delete context;
}

void ForgetNow(BackendContext& context) {
  ForgetContext& forget = context.get_deleter();
  if (forget.contexts == nullptr) return;
  forget.contexts->Forget(*context);
  forget.contexts = nullptr;
}

std::string BackendMessage(const grpc::Status& status) {
  const std::string message = Trimmed(status.error_message(), 512);
  if (absl::StartsWith(message, "backend: ")) return message;
  return absl::StrCat("backend call: ", message);
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

FrontendCall::FrontendCall(Frontend& frontend,
                           grpc::CallbackServerContext& caller,
                           absl::string_view method)
    : frontend_(frontend),
      caller_(caller),
      record_(frontend.sink(), "frontend", method, RequestIdOf(caller),
              frontend.clock().Now()),
      trace_wanted_(TraceWanted(caller)) {}

bool FrontendCall::Admit(const absl::Status& received, int64_t steps,
                         const absl::Status& valid, absl::Duration cap) {
  if (!received.ok()) {
    End({absl::Status(received.code(),
                      absl::StrCat("frontend: ", received.message())),
         OutcomeOf(received.code()), std::string(received.message())});
    return false;
  }
  record_.SetStepsRequested(steps);
  const int max_in_flight = frontend_.options().max_in_flight;
  if (frontend_.sink().stats.in_flight() > max_in_flight) {
    // Refused at once, not answered late: the caller may try elsewhere.
    End({absl::ResourceExhaustedError(absl::StrCat(
             "frontend: ", max_in_flight,
             " calls are in flight, the most allowed (--max_in_flight); try "
             "again later")),
         Outcome::kOverloaded, "overloaded: refused at once"});
    return false;
  }
  if (!valid.ok()) {
    End({absl::InvalidArgumentError(
             absl::StrCat("frontend: ", valid.message())),
         Outcome::kInvalid, "invalid request"});
    return false;
  }
  const BudgetPolicy& policy = frontend_.policy();
  budget_ = policy.Plan(CallerDeadlineOf(caller_), record_.arrived(), cap);
  record_.SetDeadline(budget_.deadline);
  record_.SetDeadlineSource(DeadlineFromName(budget_.from),
                            budget_.deadline_at_ignored, budget_.arrival_delay);
  if (budget_.fail_fast) {
    const std::string why = policy.ExplainFailFast(budget_);
    HopEnding ending{absl::DeadlineExceededError(absl::StrCat(
                         "frontend: ", why, "; backend not called")),
                     Outcome::kRejected, absl::StrCat("fail fast: ", why)};
    ending.arrived_late = budget_.arrived_late.has_value();
    End(std::move(ending));
    return false;
  }
  if (forwards_deadline()) record_.SetForwarded(budget_.forwarded);
  return true;
}

void FrontendCall::Stamp(grpc::ClientContext& context, absl::Time now) {
  if (forwards_deadline()) {
    SendDeadlineAt(context, budget_.forward_deadline, now);
  }
}

BackendContext FrontendCall::NewBackendContext() {
  BackendContexts& contexts = frontend_.contexts();
  BackendContext context(
      contexts.New(caller_, budget_.forward_deadline).release(),
      ForgetContext{&contexts});
  context->AddMetadata(kRequestIdKey, record_.request_id());
  if (trace_wanted_) WantTrace(*context);
  return context;
}

HopTrace* FrontendCall::BackendHop(const SeenBackendCall& call) {
  google::protobuf::Arena* arena = &record_.arena();
  deadline::v1::BudgetTrace* answer = TraceFrom(*call.context, arena);
  HopTrace* hop = nullptr;
  if (answer != nullptr && answer->hops_size() > 0) {
    hop = answer->mutable_hops(0);
    // What the backend says it did is kept within what it was asked.
    hop->set_steps_done(std::clamp(hop->steps_done(), 0, call.steps_requested));
  } else {
    hop = google::protobuf::Arena::CreateMessage<HopTrace>(arena);
    hop->set_hop("backend");
    ToProtoTime(call.sent_at, hop->mutable_arrived_at());
    ToProtoTime(call.ended_at, hop->mutable_finished_at());
    if (forwards_deadline()) {
      // What it was sent with, as far as this side knows.
      ToProtoTime(budget_.forward_deadline, hop->mutable_deadline());
      ToProtoDuration(budget_.forward_deadline - call.sent_at,
                      hop->mutable_budget_at_arrival());
    }
    hop->set_steps_done(call.steps_seen);
    hop->set_code(CodeName(call.status.error_code()));
    std::string cause = call.cancelled_for;
    if (const absl::optional<absl::Time> gone = CallerGoneAt();
        cause.empty() && gone.has_value()) {
      cause = std::string(GoneCause(*gone));
    }
    if (call.status.ok()) {
      hop->set_stop("done");
    } else if (call.status.error_code() == grpc::StatusCode::CANCELLED &&
               !cause.empty()) {
      // Cancelled from here: the cause is known only here, as an HTTP/2
      // cancel carries none. The moment this side saw the call end.
      hop->set_stop(absl::StrCat("cancelled here: ", cause));
      *hop->mutable_noticed_cancel_at() = hop->finished_at();
    } else {
      hop->set_stop(absl::StrCat("no answer: ", call.status.error_message()));
    }
  }
  hop->set_steps_requested(call.steps_requested);
  hop->set_address(AddressOf(*call.context, call.backend));
  hop->set_panel(call.panel);
  hop->set_hedge(call.hedge);
  return hop;
}

void FrontendCall::CallerGone(absl::Time at) {
  int64_t never = kNever;
  caller_gone_at_.compare_exchange_strong(never, absl::ToUnixNanos(at),
                                          std::memory_order_relaxed);
}

absl::optional<absl::Time> FrontendCall::CallerGoneAt() {
  const int64_t gone = caller_gone_at_.load(std::memory_order_relaxed);
  if (gone != kNever) return absl::FromUnixNanos(gone);
  // OnCancel may come after the backend calls, cancelled by gRPC, ended.
  if (caller_.IsCancelled()) return frontend_.clock().Now();
  return absl::nullopt;
}

absl::string_view FrontendCall::GoneCause(absl::Time gone) const {
  return WhyCallerWent(gone, frontend_.shutdown_cancels_at());
}

std::string FrontendCall::Summary(absl::string_view lead) const {
  return absl::StrCat(
      "frontend: ", lead, FormatBudget(budget_.at_arrival), " at arrival, ",
      forwards_deadline()
          ? absl::StrCat("forwarded ", FormatBudget(budget_.forwarded))
          : "forwarded no deadline (propagation off)");
}

const absl::Status& FrontendCall::Conclude(const BackendOutcome& outcome) {
  const absl::Time now = frontend_.clock().Now();
  // Made only for a message: an OK answer needs none.
  const auto summary = [&] {
    return outcome.summary.empty() ? Summary() : outcome.summary;
  };
  if (const absl::optional<absl::Time> gone = CallerGoneAt()) {
    // Nobody reads the answer: the call counts as what its caller saw.
    const absl::StatusCode code = GoneCallerCode(now, budget_.deadline);
    const absl::string_view why = GoneCause(*gone);
    return End(
        {absl::Status(code,
                      absl::StrCat(summary(), "; ", why,
                                   outcome.stop_with_caller
                                       ? absl::StrCat(" and ", outcome.stopped)
                                       : ", and the backend worked on for "
                                         "nobody")),
         OutcomeOf(code), std::string(why), outcome.steps_done, now - *gone,
         *gone});
  }
  // A backend that answered before its deadline let go early, not late.
  const absl::Duration stop_latency = outcome.hit_deadline
                                          ? now - budget_.forward_deadline
                                          : absl::ZeroDuration();
  if (outcome.status.ok()) {
    return End({outcome.status, Outcome::kOk, "done", outcome.steps_done,
                stop_latency});
  }
  std::string message = absl::StrCat(summary(), "; ", outcome.status.message());
  if (outcome.status.code() == absl::StatusCode::kDeadlineExceeded) {
    absl::StrAppend(&message, LargestShare(now));
  }
  return End({absl::Status(outcome.status.code(), message),
              OutcomeOf(outcome.status.code()), outcome.stop,
              outcome.steps_done, stop_latency});
}

std::string FrontendCall::LargestShare(absl::Time now) const {
  // This hop's own parts as they stand, then each backend call's.
  const deadline::v1::BudgetTrace& trace = record_.trace();
  std::string where;
  absl::Duration most = absl::ZeroDuration();
  const auto consider = [&](absl::string_view who, absl::Duration d,
                            absl::string_view what) {
    if (d <= most) return;
    most = d;
    where = absl::StrCat(who, ": ", FormatBudget(d), " ", what);
  };
  const auto part = [](bool has, const google::protobuf::Duration& d) {
    return has ? FromProtoDuration(d, "").value_or(absl::ZeroDuration())
               : absl::ZeroDuration();
  };
  const deadline::v1::HopTrace& own = trace.hops(0);
  consider("frontend", part(own.has_arrival_delay(), own.arrival_delay()),
           "on the wire and waiting to be read");
  absl::Duration waiting = absl::ZeroDuration();
  for (int i = 1; i < trace.hops_size(); ++i) {
    const deadline::v1::HopTrace& hop = trace.hops(i);
    const std::string who = absl::StrCat(hop.hop(), " ", hop.address());
    consider(who, part(hop.has_arrival_delay(), hop.arrival_delay()),
             "on the wire and waiting to be read");
    consider(who, part(hop.has_queued(), hop.queued()), "waiting for a worker");
    consider(who, part(hop.has_working(), hop.working()), "working");
    if (hop.has_arrived_at() && hop.has_finished_at()) {
      waiting +=
          FromProtoTime(hop.finished_at()) - FromProtoTime(hop.arrived_at());
    }
  }
  consider("frontend", now - record_.arrived() - waiting, "working");
  return where.empty() ? "" : absl::StrCat("; most of the time: ", where);
}

const absl::Status& FrontendCall::End(HopEnding ending) {
  if (record_.ended()) return status_;
  status_ = record_.End(std::move(ending), frontend_.clock().Now());
  AttachTrace(caller_, record_.trace(), status_);
  return status_;
}

void FrontendCall::Audit() {
  Auditor* auditor = frontend_.auditor();
  if (auditor == nullptr) return;
  deadline::v1::AuditRecord audit;
  audit.set_request_id(record_.request_id());
  audit.set_method("Fetch");
  audit.set_code(absl::StatusCodeToString(status_.code()));
  audit.set_steps_done(static_cast<int32_t>(record_.steps_done()));
  auditor->Send(caller_, std::move(audit));
}

}  // namespace deadline

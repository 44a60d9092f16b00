#include "bench/open_loop.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/client_context.h"

namespace deadline::bench {

namespace {

// Cancels calls from the client at their time: one thread for all of them,
// holding each call's context until then.
class Canceller {
 public:
  static Canceller& Get() {
    static Canceller* canceller = new Canceller;  // Never destroyed.
    return *canceller;
  }

  void Add(absl::Time at, std::shared_ptr<grpc::ClientContext> context) {
    absl::MutexLock lock(&mu_);
    due_.push({at, std::move(context)});
  }

 private:
  struct Due {
    absl::Time at;
    std::shared_ptr<grpc::ClientContext> context;
    bool operator>(const Due& other) const { return at > other.at; }
  };

  Canceller() {
    std::thread([this] { Loop(); }).detach();
  }

  void Loop() {
    for (;;) {
      std::vector<std::shared_ptr<grpc::ClientContext>> now_due;
      absl::Time next = absl::InfiniteFuture();
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](std::priority_queue<Due, std::vector<Due>, std::greater<Due>>*
                    due) { return !due->empty(); },
            &due_));
        const absl::Time now = absl::Now();
        while (!due_.empty() && due_.top().at <= now) {
          now_due.push_back(due_.top().context);
          due_.pop();
        }
        if (!due_.empty()) next = due_.top().at;
      }
      for (auto& context : now_due) context->TryCancel();
      now_due.clear();
      if (next != absl::InfiniteFuture()) {
        absl::SleepFor(std::min(next - absl::Now(), absl::Microseconds(500)));
      }
    }
  }

  absl::Mutex mu_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_
      ABSL_GUARDED_BY(mu_);
};

template <typename Request, typename Reply>
struct Pending {
  grpc::ClientContext context;
  Request request;
  Reply reply;
};

// Starts one unary call of `method` (a stub's async() method, bound) for
// `record`; see StartFetch().
template <typename Request, typename Reply, typename Method>
void StartUnary(Method method, const Request& request, absl::Duration budget,
                bool want_trace, CallRecord& record, std::function<void()> done,
                absl::Duration cancel_after,
                void (*on_reply)(const Reply&, CallRecord&)) {
  auto pending = std::make_shared<Pending<Request, Reply>>();
  pending->request = request;
  if (record.request_id.empty()) record.request_id = NewRequestId();
  pending->context.AddMetadata(kRequestIdKey, record.request_id);
  if (want_trace) WantTrace(pending->context);
  record.sent = absl::Now();
  if (budget != absl::InfiniteDuration()) {
    record.deadline = record.sent + budget;
    pending->context.set_deadline(ToGrpcDeadline(record.deadline));
  }
  if (cancel_after != absl::InfiniteDuration()) {
    Canceller::Get().Add(
        record.sent + cancel_after,
        std::shared_ptr<grpc::ClientContext>(pending, &pending->context));
  }
  auto* raw = pending.get();
  method(&raw->context, &raw->request, &raw->reply,
         [self = std::move(pending), &record, done = std::move(done),
          on_reply](grpc::Status status) mutable {
           record.answered = absl::Now();
           record.code = status.error_code();
           record.message = status.error_message();
           record.trace = TraceFrom(self->context);
           if (status.ok() && on_reply != nullptr) {
             on_reply(self->reply, record);
           }
           self.reset();
           done();
         });
}

void CountPanels(const deadline::v1::FetchAllReply& reply, CallRecord& record) {
  for (const auto& panel : reply.panels()) {
    record.panels_ok += panel.code() == 0;
    record.panels_deadline +=
        panel.code() == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}

}  // namespace

void StartFetch(deadline::v1::Frontend::Stub& stub,
                const deadline::v1::FetchRequest& request,
                absl::Duration budget, bool want_trace, CallRecord& record,
                std::function<void()> done, absl::Duration cancel_after) {
  StartUnary<deadline::v1::FetchRequest, deadline::v1::FetchReply>(
      [&stub](grpc::ClientContext* c, const deadline::v1::FetchRequest* q,
              deadline::v1::FetchReply* r,
              std::function<void(grpc::Status)> f) {
        stub.async()->Fetch(c, q, r, std::move(f));
      },
      request, budget, want_trace, record, std::move(done), cancel_after,
      nullptr);
}

void StartFetchAll(deadline::v1::Frontend::Stub& stub,
                   const deadline::v1::FetchAllRequest& request,
                   absl::Duration budget, bool want_trace, CallRecord& record,
                   std::function<void()> done, absl::Duration cancel_after) {
  StartUnary<deadline::v1::FetchAllRequest, deadline::v1::FetchAllReply>(
      [&stub](grpc::ClientContext* c, const deadline::v1::FetchAllRequest* q,
              deadline::v1::FetchAllReply* r,
              std::function<void(grpc::Status)> f) {
        stub.async()->FetchAll(c, q, r, std::move(f));
      },
      request, budget, want_trace, record, std::move(done), cancel_after,
      &CountPanels);
}

void StartWork(deadline::v1::Backend::Stub& stub,
               const deadline::v1::WorkRequest& request, absl::Duration budget,
               CallRecord& record, std::function<void()> done,
               absl::Duration cancel_after) {
  StartUnary<deadline::v1::WorkRequest, deadline::v1::WorkReply>(
      [&stub](grpc::ClientContext* c, const deadline::v1::WorkRequest* q,
              deadline::v1::WorkReply* r, std::function<void(grpc::Status)> f) {
        stub.async()->Work(c, q, r, std::move(f));
      },
      request, budget, /*want_trace=*/false, record, std::move(done),
      cancel_after, nullptr);
}

OpenLoop::OpenLoop(double rate, absl::Duration duration, uint64_t seed)
    : rate_(rate), duration_(duration), seed_(seed) {}

void OpenLoop::Run(const Starter& start) {
  struct Outstanding {
    std::atomic<int64_t> calls{1};  // One for the generator.
    absl::Notification all_done;
    void Done() {
      if (calls.fetch_sub(1) == 1) all_done.Notify();
    }
  };
  auto outstanding = std::make_shared<Outstanding>();
  std::mt19937_64 random(seed_);
  std::exponential_distribution<double> gap(rate_);
  const absl::Time begin = absl::Now();
  const absl::Time end = begin + duration_;
  absl::Time next = begin;
  while (next < end) {
    const absl::Time now = absl::Now();
    if (now < next) {
      absl::SleepFor(next - now);
      continue;
    }
    // Behind schedule (a busy machine), calls go out at once: the offered
    // rate holds on average.
    records_.emplace_back();
    outstanding->calls.fetch_add(1);
    start(records_.back(), [outstanding] { outstanding->Done(); });
    next += absl::Seconds(gap(random));
  }
  span_ = absl::Now() - begin;
  outstanding->Done();
  outstanding->all_done.WaitForNotification();
}

double OpenLoop::sent_rate() const {
  return span_ > absl::ZeroDuration()
             ? records_.size() / absl::ToDoubleSeconds(span_)
             : 0;
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string CodeCounts(const std::deque<CallRecord>& records) {
  std::map<std::string, int> counts;
  for (const CallRecord& r : records) ++counts[CodeName(r.code)];
  std::vector<std::string> parts;
  for (const auto& [name, n] : counts)
    parts.push_back(absl::StrCat(name, " ", n));
  return absl::StrJoin(parts, ", ");
}

}  // namespace deadline::bench

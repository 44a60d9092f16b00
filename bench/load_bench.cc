#include "bench/load_bench.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {

// ---------------------------------------------------------------------------
// Child servers.

std::unique_ptr<ChildServer> ChildServer::Start(const std::string& bin_dir,
                                                absl::string_view binary,
                                                std::vector<std::string> args) {
  std::unique_ptr<ChildServer> server(new ChildServer);
  args.insert(args.begin(), absl::StrCat(bin_dir, "/", binary));
  server->process_ =
      testing::StartServerProcess(std::move(args), &server->address_);
  if (server->process_ == nullptr) return nullptr;
  server->pid_ = server->process_->pid();
  server->channel_ = testing::ChannelTo(server->address_);
  server->drainer_ = std::thread([s = server.get()] { s->Drain(); });
  return server;
}

ChildServer::~ChildServer() {
  StopDraining();
  // The Subprocess kills and reaps the process.
}

void ChildServer::StopDraining() {
  stop_ = true;
  if (drainer_.joinable()) drainer_.join();
}

absl::optional<int> ChildServer::Stop(absl::Duration timeout) {
  StopDraining();  // From here on, this thread alone reads the process.
  process_->Signal(SIGTERM);
  const absl::optional<int> status = process_->Wait(timeout);
  absl::MutexLock lock(&mu_);
  output_ = process_->output();
  return status;
}

void ChildServer::Drain() {
  size_t copied = 0;
  while (!stop_.load()) {
    // Blocks up to 20 ms reading whatever arrives; the needle never comes.
    process_->WaitForLine("\x01", absl::Milliseconds(20));
    const std::string& out = process_->output();
    if (out.size() > copied) {
      absl::MutexLock lock(&mu_);
      output_.append(out, copied, std::string::npos);
      copied = out.size();
    }
  }
}

deadline::v1::StatsReply ChildServer::Stats() const {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  deadline::v1::StatsReply reply;
  auto stub = deadline::v1::Stats::NewStub(channel_);
  if (!stub->GetStats(&context, deadline::v1::GetStatsRequest(), &reply).ok()) {
    return deadline::v1::StatsReply();
  }
  return reply;
}

bool ChildServer::Alive() const {
  std::ifstream file(absl::StrCat("/proc/", pid_, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(file)),
                   std::istreambuf_iterator<char>());
  const size_t name_end = stat.rfind(") ");
  if (name_end == std::string::npos || name_end + 2 >= stat.size()) {
    return false;
  }
  const char state = stat[name_end + 2];
  return state != 'Z' && state != 'X';
}

std::string ChildServer::TakeLog() {
  absl::MutexLock lock(&mu_);
  const size_t end = output_.rfind('\n');
  if (end == std::string::npos || end + 1 <= taken_) return "";
  std::string lines = output_.substr(taken_, end + 1 - taken_);
  taken_ = end + 1;
  return lines;
}

std::string ChildServer::AllOutput() {
  absl::MutexLock lock(&mu_);
  return output_;
}

int FdsOf(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  int fds = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++fds;
  }
  closedir(dir);
  return fds;
}

absl::flat_hash_map<absl::string_view, absl::string_view> LogFields(
    absl::string_view line) {
  absl::flat_hash_map<absl::string_view, absl::string_view> fields;
  for (absl::string_view field : absl::StrSplit(line, ' ')) {
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) continue;
    fields.emplace(field.substr(0, eq), field.substr(eq + 1));
  }
  return fields;
}

// ---------------------------------------------------------------------------
// Open-loop calls.

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

// ---------------------------------------------------------------------------
// Shared by the sections.

namespace {

using deadline::v1::FetchAllRequest;
using deadline::v1::FetchRequest;
using deadline::v1::WorkRequest;
using testing::Work;

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// "OK 1200, DEADLINE_EXCEEDED 3, RESOURCE_EXHAUSTED 800".
std::string CodeCounts(const std::deque<CallRecord>& records) {
  std::map<std::string, int> counts;
  for (const CallRecord& r : records) ++counts[CodeName(r.code)];
  std::vector<std::string> parts;
  for (const auto& [name, n] : counts)
    parts.push_back(absl::StrCat(name, " ", n));
  return absl::StrJoin(parts, ", ");
}

int Count(const std::deque<CallRecord>& records, grpc::StatusCode code) {
  return static_cast<int>(
      std::count_if(records.begin(), records.end(),
                    [code](const CallRecord& r) { return r.code == code; }));
}

FetchRequest FetchOf(const WorkRequest& work) {
  FetchRequest request;
  *request.mutable_work() = work;
  return request;
}

// Waits until the server counts nothing in flight; returns what it counts
// at the end.
int64_t WaitIdle(ChildServer& server, absl::Duration timeout) {
  int64_t in_flight = -1;
  testing::WaitUntil(
      [&] {
        in_flight = server.Stats().calls_in_flight();
        return in_flight == 0;
      },
      timeout);
  return in_flight;
}

// Nanoseconds the threads of process `pid` have spent waiting for a CPU
// while runnable (the second field of /proc/PID/task/*/schedstat).
double RunQueueWaitSeconds(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/task").c_str());
  if (dir == nullptr) return NAN;
  double total = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream file(
        absl::StrCat("/proc/", pid, "/task/", entry->d_name, "/schedstat"));
    double run = 0;
    double wait = 0;
    if (file >> run >> wait) total += wait;
  }
  closedir(dir);
  return total / 1e9;
}

// CPU cores the processes used over an interval, and how long their
// threads waited for a CPU.
class CpuMeter {
 public:
  explicit CpuMeter(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    pids_.push_back(getpid());
    Restart();
  }
  void Restart() {
    start_ = absl::Now();
    seconds_.clear();
    waits_.clear();
    for (pid_t pid : pids_) {
      seconds_.push_back(CpuSecondsOf(pid));
      waits_.push_back(RunQueueWaitSeconds(pid));
    }
  }
  // Cores each process used since Restart(), in the order given, this
  // process last.
  std::vector<double> Cores() const {
    const double wall = absl::ToDoubleSeconds(absl::Now() - start_);
    std::vector<double> cores;
    for (size_t i = 0; i < pids_.size(); ++i) {
      cores.push_back((CpuSecondsOf(pids_[i]) - seconds_[i]) / wall);
    }
    return cores;
  }
  // Milliseconds per second that each process's threads, together, spent
  // runnable but waiting for a CPU since Restart().
  std::vector<double> WaitMsPerSecond() const {
    const double wall = absl::ToDoubleSeconds(absl::Now() - start_);
    std::vector<double> waits;
    for (size_t i = 0; i < pids_.size(); ++i) {
      waits.push_back((RunQueueWaitSeconds(pids_[i]) - waits_[i]) * 1000 /
                      wall);
    }
    return waits;
  }

 private:
  std::vector<pid_t> pids_;
  absl::Time start_;
  std::vector<double> seconds_;
  std::vector<double> waits_;
};

// A thread of this process that sleeps 1 ms at a time while it lives and
// notes how late it wakes: when it wakes late, every thread of this
// process (the client) could have too.
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

// ---------------------------------------------------------------------------
// Overload.

namespace {

constexpr int kOverloadWorkers = 2;
constexpr int kOverloadQueue = 16;
constexpr int kOverloadMaxInFlight = 32;
// Deep enough that the backend's queue never runs dry between calls.
constexpr int kCapacityInFlight = 16;

struct OverloadRun {
  double offered = 0;  // Calls per second sent.
  double goodput = 0;  // OK answers per second.
  int calls = 0;
  int ok = 0;
  int exhausted = 0;
  int refused_by_frontend = 0;  // RESOURCE_EXHAUSTED: --max_in_flight.
  int deadline = 0;
  int client_timer = 0;  // DEADLINE_EXCEEDED with no trace: nobody answered.
  int late = 0;          // Answered after the deadline.
  int late_5ms = 0;      // More than 5 ms after it.
  Summary lateness;      // Of every answer (negative: early).
  Summary exhausted_in;  // How fast RESOURCE_EXHAUSTED came back.
  std::string codes;
  std::vector<double> cores;  // Backend, frontend, client.
  std::vector<double> waits;  // Run-queue wait, ms per second, the same.
  std::string stalls;         // The client's own wake-ups.
  // At the backend: calls that ended at their deadline, those of them that
  // never left the queue, and the backend's CPU seconds per OK answer.
  int64_t backend_deadline = 0;
  int64_t backend_shed = 0;
  double cpu_ms_per_ok = 0;
};

OverloadRun DriveOverload(double rate, absl::Duration duration,
                          ChildServer& backend,
                          deadline::v1::Frontend::Stub& stub,
                          const FetchRequest& fetch, absl::Duration deadline,
                          CpuMeter& cpu, uint64_t seed) {
  OpenLoop loop(rate, duration, seed);
  const deadline::v1::StatsReply before = backend.Stats();
  const double backend_cpu = CpuSecondsOf(backend.pid());
  cpu.Restart();
  StallWatch stalls;
  loop.Run([&](CallRecord& record, std::function<void()> done) {
    StartFetch(stub, fetch, deadline, /*want_trace=*/false, record,
               std::move(done));
  });
  stalls.Stop();
  OverloadRun run;
  run.cores = cpu.Cores();
  run.waits = cpu.WaitMsPerSecond();
  run.stalls = stalls.ToString();
  WaitIdle(backend, absl::Seconds(10));
  const deadline::v1::StatsReply after = backend.Stats();
  run.backend_deadline =
      after.calls_deadline_exceeded() - before.calls_deadline_exceeded();
  run.backend_shed = after.calls_shed() - before.calls_shed();
  const double backend_cpu_used = CpuSecondsOf(backend.pid()) - backend_cpu;
  const auto& records = loop.records();
  run.offered = loop.sent_rate();
  run.calls = static_cast<int>(records.size());
  Distribution lateness;
  Distribution exhausted;
  for (const CallRecord& r : records) {
    const absl::Duration late = r.Lateness();
    lateness.Add(late);
    run.late += late > absl::ZeroDuration();
    run.late_5ms += late > absl::Milliseconds(5);
    switch (r.code) {
      case grpc::StatusCode::OK:
        ++run.ok;
        break;
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        ++run.exhausted;
        run.refused_by_frontend +=
            absl::StrContains(r.message, "max_in_flight");
        exhausted.Add(r.answered - r.sent);
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        ++run.deadline;
        run.client_timer += !r.trace.has_value();
        break;
      default:
        break;
    }
  }
  run.goodput = run.ok / absl::ToDoubleSeconds(loop.span());
  run.cpu_ms_per_ok = run.ok > 0 ? backend_cpu_used * 1000 / run.ok : NAN;
  run.lateness = lateness.Summarize();
  run.exhausted_in = exhausted.Summarize();
  run.codes = CodeCounts(records);
  return run;
}

}  // namespace

Section Overload(const Config& config) {
  Section section{"overload",
                  "9. Overload (real processes, open-loop arrivals beyond "
                  "capacity)"};
  if (SkippedWithoutBinaries(config, section, "overload")) return section;
  const double load_before = LoadAverage();
  const absl::Duration deadline = absl::Milliseconds(100);
  // One CPU-bound step: the backend's workers are the chain's capacity.
  const FetchRequest fetch =
      FetchOf(Work(1, absl::Milliseconds(5), /*spin=*/true));
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(6);

  struct Setting {
    std::string name;
    std::vector<std::string> backend_args;
    std::vector<std::string> frontend_args;
    std::vector<double> multiples;
  };
  const std::vector<std::string> sized_backend = {
      absl::StrCat("--workers=", kOverloadWorkers),
      absl::StrCat("--max_queue=", kOverloadQueue)};
  const std::vector<std::string> sized_frontend = {
      absl::StrCat("--max_in_flight=", kOverloadMaxInFlight)};
  const std::vector<Setting> settings = {
      {"sized", sized_backend, sized_frontend, {0.5, 1, 2, 3}},
      {"defaults", {}, {}, {3}},
  };
  double capacity = 0;
  int setting_index = 0;
  for (const Setting& setting : settings) {
    std::vector<std::string> backend_args = setting.backend_args;
    backend_args.push_back("--log=none");
    auto backend =
        ChildServer::Start(config.bin_dir, "server/backend/backend", backend_args);
    std::vector<std::string> frontend_args = setting.frontend_args;
    frontend_args.push_back("--log=none");
    if (backend != nullptr) {
      frontend_args.push_back(absl::StrCat("--backend=", backend->address()));
    }
    auto frontend = backend == nullptr
                        ? nullptr
                        : ChildServer::Start(config.bin_dir, "server/frontend/frontend",
                                             frontend_args);
    if (frontend == nullptr) {
      section.rows.push_back(Info(setting.name, "the servers did not start"));
      return section;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();  // Connects.
    CpuMeter cpu({backend->pid(), frontend->pid()});
    const std::string settings_text =
        absl::StrCat("backend ",
                     setting.backend_args.empty()
                         ? "defaults (--workers=cores, --max_queue=256)"
                         : absl::StrJoin(setting.backend_args, " "),
                     "; frontend ",
                     setting.frontend_args.empty()
                         ? "defaults (--max_in_flight=10000)"
                         : absl::StrJoin(setting.frontend_args, " "));
    section.rows.push_back(
        Info(absl::StrCat(setting.name, ": settings"), settings_text));
    if (setting_index == 0) {
      // Capacity: a closed loop deep enough to keep every worker busy and
      // the queue non-empty, with a generous deadline.
      std::atomic<int64_t> ok{0};
      struct ClosedCall {
        grpc::ClientContext context;
        deadline::v1::FetchReply reply;
      };
      const auto one = [&](std::function<void()> done) {
        auto* call = new ClosedCall;
        call->context.set_deadline(
            ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
        stub->async()->Fetch(&call->context, &fetch, &call->reply,
                             [call, done, &ok](grpc::Status status) {
                               ok += status.ok();
                               delete call;
                               done();
                             });
      };
      ClosedLoopRate(
          8, config.quick ? absl::Milliseconds(100) : absl::Milliseconds(500),
          one);  // Warm-up.
      ok = 0;
      const absl::Time start = absl::Now();
      cpu.Restart();
      ClosedLoopRate(kCapacityInFlight,
                     config.quick ? absl::Milliseconds(300) : absl::Seconds(4),
                     one);
      const std::vector<double> cores = cpu.Cores();
      capacity = ok.load() / absl::ToDoubleSeconds(absl::Now() - start);
      section.rows.push_back(Info(
          absl::StrCat("capacity: OK Fetch calls/s, closed loop at ",
                       kCapacityInFlight, " in flight"),
          absl::StrFormat("%.0f (1 CPU-bound step of 5 ms each; CPU: backend "
                          "%.2f, frontend %.2f, client %.2f cores)",
                          capacity, cores[0], cores[1], cores[2])));
      section.figures["capacity_calls_per_s"] = capacity;
    }
    for (double multiple : setting.multiples) {
      const OverloadRun run =
          DriveOverload(multiple * capacity, run_for, *backend, *stub, fetch,
                        deadline, cpu, static_cast<uint64_t>(multiple * 10));
      const std::string n = absl::StrCat(
          setting.name, ", ", absl::StrFormat("%.1fx", multiple), " capacity");
      section.rows.push_back(
          Info(absl::StrCat(n, ": offered, answered"),
               absl::StrFormat("%.0f calls/s: %s; CPU backend %.2f, frontend "
                               "%.2f, client %.2f cores; waiting for a CPU, "
                               "ms per s: %.0f, %.0f, %.0f; the client's 1 "
                               "ms sleeps: %s",
                               run.offered, run.codes, run.cores[0],
                               run.cores[1], run.cores[2], run.waits[0],
                               run.waits[1], run.waits[2], run.stalls)));
      const std::string goodput = absl::StrFormat(
          "%.0f OK/s (%s of capacity); backend CPU per OK answer %.1f ms; "
          "at the backend %d calls ended at their deadline, %d of them shed "
          "from the queue without work",
          run.goodput, Pct(run.goodput / capacity), run.cpu_ms_per_ok,
          run.backend_deadline, run.backend_shed);
      if (multiple >= 3) {
        section.rows.push_back(AtLeast(absl::StrCat(n, ": goodput"),
                                       run.goodput / capacity, 0.8, goodput,
                                       ">= 80% of capacity"));
      } else {
        section.rows.push_back(Info(absl::StrCat(n, ": goodput"), goodput));
      }
      section.rows.push_back(AtMost(
          absl::StrCat(n, ": answers after the deadline (max lateness)"),
          run.lateness.max, 5000,
          absl::StrFormat("%d of %d, %d by > 5 ms; lateness p99 %s, max %s; "
                          "%d ended by the client's own timer",
                          run.late, run.calls, run.late_5ms,
                          Ms(run.lateness.p99), Ms(run.lateness.max),
                          run.client_timer),
          "none > 5 ms late"));
      section.rows.push_back(
          Info(absl::StrCat(n, ": RESOURCE_EXHAUSTED, answered after"),
               run.exhausted == 0
                   ? std::string("none")
                   : absl::StrFormat(
                         "%d (%d by the frontend's --max_in_flight, %d by the "
                         "backend's queue): p50 %s, p99 %s",
                         run.exhausted, run.refused_by_frontend,
                         run.exhausted - run.refused_by_frontend,
                         Ms(run.exhausted_in.p50), Ms(run.exhausted_in.p99))));
      const std::string f = absl::StrCat(
          absl::StrReplaceAll(setting.name, {{", ", "_"}, {" ", "_"}}), "_",
          absl::StrFormat("%.1fx", multiple));
      section.figures[f + ".offered"] = run.offered;
      section.figures[f + ".goodput"] = run.goodput;
      section.figures[f + ".ok"] = run.ok;
      section.figures[f + ".resource_exhausted"] = run.exhausted;
      section.figures[f + ".deadline_exceeded"] = run.deadline;
      section.figures[f + ".client_timer"] = run.client_timer;
      section.figures[f + ".late"] = run.late;
      section.figures[f + ".late_5ms"] = run.late_5ms;
      AddFigures(section, f + ".lateness", run.lateness);
      WaitIdle(*frontend, absl::Seconds(10));
    }
    ++setting_index;
  }
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Every server is a process of its own and this process is the client, "
      "on the same two cores (the load row says what else ran). Each Fetch "
      "asks for one CPU-bound step of 5 ms, so the backend's two workers "
      "are the chain's capacity: 400 calls/s on paper, less in practice "
      "because the spinning workers share the cores with both servers' "
      "gRPC threads and the client. Capacity is the closed-loop goodput at "
      "16 in flight; the open-loop runs reach a little more, because "
      "Poisson arrivals keep the queue fuller. Calls are started at Poisson "
      "arrival times without waiting for answers (the async stub), with "
      "100 ms deadlines. The sized settings are what a user would derive "
      "from the capacity and the deadline: a queue of 16 waits at most "
      "about 16 / capacity (~55 ms), so a queued call still has its 5 ms "
      "of work time before the backend's stop time (the deadline less the "
      "frontend's 10 ms and the backend's 2 ms reserves); --max_in_flight "
      "32 is the backend's 2 + 16 plus calls on the wire, a backstop that "
      "the backend's queue reaches first. Beyond capacity the chain then "
      "refuses the excess at once (RESOURCE_EXHAUSTED within a few ms, the "
      "message naming the limit), serves capacity, and answers every call "
      "before its deadline with its explanation. With the defaults "
      "(--max_queue=256, --max_in_flight=10000) the queue's bound is far "
      "above what 100 ms deadlines allow, and what keeps the queue short "
      "is the backend's admission: a CPU-bound call is refused at once "
      "when the work queued and running ahead of it (declared cost over "
      "the workers) would keep it from finishing by its stop time. Without "
      "that, the same 3x load collapsed to about 10% of capacity: every "
      "queued call waited until near its deadline, and those that reached "
      "a worker with less than 5 ms left ran and were stopped, several "
      "times the CPU per OK answer. With it, goodput stays near three "
      "quarters of capacity; the rest are calls admitted near the limit "
      "whose time ran out while they ran (the estimate counts declared "
      "work, not the dispatch and CPU contention around it), which the "
      "sized settings avoid. "
      "Lateness is bounded by the client's own timer, so an answer more "
      "than ~1 ms late means the client process was not running: those "
      "runs show the client's own 1 ms sleeps waking tens of ms late. The "
      "calls ended by the client's own timer are the real misses (the "
      "server's answer and its explanation came too late): with the sized "
      "settings none to a handful per run at 2-3x, varying with what else "
      "the machine runs: calls whose frontend and client both waited for "
      "a CPU longer than the 10 ms reserve (the run-queue waits; the "
      "spinning workers and other processes fill both cores); with the "
      "defaults tens to hundreds. Running the workers at nice 10 (tried "
      "from outside) made it worse: a worker that does not run cannot end "
      "its call at the deadline either.";
  return section;
}

// ---------------------------------------------------------------------------
// PARTIAL fan-outs.

namespace {

// One call's line in a server's call log.
struct LoggedCall {
  absl::Time arrived;
  absl::Time finished;
  absl::Duration budget = absl::InfiniteDuration();  // At arrival.
  absl::Duration stop_latency = absl::ZeroDuration();
  std::string code;
  int steps_done = 0;
  // The deadline this hop worked to: arrival + budget.
  absl::Time deadline() const { return arrived + budget; }
};

// steps=3/20 -> 3.
int StepsDone(absl::string_view steps) {
  int done = 0;
  const size_t slash = steps.find('/');
  return absl::SimpleAtoi(steps.substr(0, slash), &done) ? done : 0;
}

// The call lines in `log`, by request id (a fan-out's panels share one).
std::map<std::string, std::vector<LoggedCall>> ParseCallLog(
    absl::string_view log) {
  std::map<std::string, std::vector<LoggedCall>> calls;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (!absl::StartsWith(line, "time=")) continue;
    auto fields = LogFields(line);
    LoggedCall call;
    std::string error;
    absl::Duration elapsed;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", fields["time"], &call.finished,
                         &error) ||
        !absl::ParseDuration(fields["elapsed"], &elapsed)) {
      continue;
    }
    call.arrived = call.finished - elapsed;
    if (!absl::ParseDuration(fields["budget"], &call.budget)) {
      call.budget = absl::InfiniteDuration();
    }
    absl::ParseDuration(fields["stop_latency"], &call.stop_latency);
    call.code = std::string(fields["code"]);
    call.steps_done = StepsDone(fields["steps"]);
    calls[std::string(fields["request_id"])].push_back(call);
  }
  return calls;
}

// How one PARTIAL call's time was spent, from the client's record and the
// servers' logs. Every figure is a difference of times on this machine's
// one clock.
struct PartialTimes {
  bool logged = false;  // The frontend's line was found.
  // The frontend's deadline after the client's: time before gRPC read the
  // call's headers (it counts the timeout from there) and the rounding up
  // of the timeout.
  absl::Duration skew;
  // The frontend's handler start after the client sent the call.
  absl::Duration to_handler;
  // The frontend's answer after its forward deadline (its deadline less
  // the reserve): how late the last panel ended there.
  absl::Duration conclude_lag;
  // The frontend's answer after the client's deadline (positive: late).
  absl::Duration frontend_end_after_deadline;
  // The client saw the answer this long after the frontend sent it
  // (unset when the client's own timer ended the call first).
  absl::optional<absl::Duration> transit;
  // Over the panels that ended at their deadline on a backend: the latest
  // backend deadline after the frontend's forward deadline (second-hop
  // skew), and the worst stop latency there.
  absl::optional<absl::Duration> backend_skew;
  absl::optional<absl::Duration> backend_stop_latency;
  // The latest a panel ended at the frontend after its forward deadline
  // (from the trace; unset without one).
  absl::optional<absl::Duration> panel_end_lag;
  // How many panels the frontend's own timer ended (no backend answer).
  int panels_by_frontend_timer = 0;
};

PartialTimes TimesOf(
    const CallRecord& record, absl::Duration reserve,
    const std::map<std::string, std::vector<LoggedCall>>& frontend_log,
    const std::map<std::string, std::vector<LoggedCall>>& backend_log) {
  PartialTimes t;
  const auto front = frontend_log.find(record.request_id);
  if (front == frontend_log.end() || front->second.empty()) return t;
  const LoggedCall& f = front->second.front();
  if (f.budget == absl::InfiniteDuration()) return t;
  t.logged = true;
  const absl::Time forward_deadline = f.deadline() - reserve;
  t.skew = f.deadline() - record.deadline;
  t.to_handler = f.arrived - record.sent;
  t.conclude_lag = f.finished - forward_deadline;
  t.frontend_end_after_deadline = f.finished - record.deadline;
  if (record.trace.has_value()) t.transit = record.answered - f.finished;
  const auto back = backend_log.find(record.request_id);
  if (back != backend_log.end()) {
    for (const LoggedCall& b : back->second) {
      if (b.code != "DEADLINE_EXCEEDED" ||
          b.budget == absl::InfiniteDuration()) {
        continue;
      }
      const absl::Duration skew2 = b.deadline() - forward_deadline;
      t.backend_skew =
          t.backend_skew.has_value() ? std::max(*t.backend_skew, skew2) : skew2;
      t.backend_stop_latency =
          t.backend_stop_latency.has_value()
              ? std::max(*t.backend_stop_latency, b.stop_latency)
              : b.stop_latency;
    }
  }
  if (record.trace.has_value()) {
    for (const auto& hop : record.trace->hops()) {
      if (hop.hop() != "backend") continue;
      const absl::Duration lag =
          FromProtoTime(hop.finished_at()) - forward_deadline;
      if (absl::StartsWith(hop.stop(), "no answer")) {
        ++t.panels_by_frontend_timer;
      }
      if (hop.code() == "DEADLINE_EXCEEDED") {
        t.panel_end_lag =
            t.panel_end_lag.has_value() ? std::max(*t.panel_end_lag, lag) : lag;
      }
    }
  }
  return t;
}

struct PartialRun {
  double offered = 0;
  int calls = 0;
  int deadline_exceeded = 0;  // As the client saw it.
  int client_timer = 0;       // ... ended by the client's own timer.
  int late = 0;               // Answered after the deadline.
  int ok_as_expected = 0;     // OK, the 2 fast panels OK and 2 timed out.
  Summary lateness;
  std::string codes;
  std::vector<double> cores;  // Backends, frontend, client.
  std::vector<double> waits;  // Run-queue wait, ms per second, the same.
  std::string stalls;         // The client's own wake-ups.
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

void Add(Distribution& d, const absl::optional<absl::Duration>& v) {
  if (v.has_value()) d.Add(*v);
}

PartialRun DrivePartial(double rate, absl::Duration duration,
                        absl::Duration reserve, bool logged,
                        deadline::v1::Frontend::Stub& stub,
                        const FetchAllRequest& request, absl::Duration deadline,
                        ChildServer& frontend,
                        std::vector<std::unique_ptr<ChildServer>>& backends,
                        CpuMeter& cpu) {
  frontend.TakeLog();
  for (auto& b : backends) b->TakeLog();
  OpenLoop loop(rate, duration, 7);
  cpu.Restart();
  StallWatch stalls;
  loop.Run([&](CallRecord& record, std::function<void()> done) {
    StartFetchAll(stub, request, deadline, /*want_trace=*/true, record,
                  std::move(done));
  });
  stalls.Stop();
  PartialRun run;
  run.cores = cpu.Cores();
  run.waits = cpu.WaitMsPerSecond();
  run.stalls = stalls.ToString();
  WaitIdle(frontend, absl::Seconds(10));
  for (auto& b : backends) WaitIdle(*b, absl::Seconds(10));
  absl::SleepFor(absl::Milliseconds(100));  // The last log lines.
  const auto frontend_log = ParseCallLog(frontend.TakeLog());
  std::map<std::string, std::vector<LoggedCall>> backend_log;
  for (auto& b : backends) {
    for (auto& [id, calls] : ParseCallLog(b->TakeLog())) {
      auto& all = backend_log[id];
      all.insert(all.end(), calls.begin(), calls.end());
    }
  }
  const auto& records = loop.records();
  run.offered = loop.sent_rate();
  run.calls = static_cast<int>(records.size());
  run.codes = CodeCounts(records);
  Distribution lateness;
  std::vector<std::pair<absl::Duration, std::string>> late_lines;
  std::vector<absl::Time> late_deadlines;
  for (const CallRecord& r : records) {
    lateness.Add(r.Lateness());
    const bool de = r.code == grpc::StatusCode::DEADLINE_EXCEEDED;
    run.deadline_exceeded += de;
    run.client_timer += de && !r.trace.has_value();
    const bool late = r.answered > r.deadline || de;
    run.late += late;
    if (late) late_deadlines.push_back(r.deadline);
    run.ok_as_expected += r.code == grpc::StatusCode::OK && r.panels_ok == 2 &&
                          r.panels_deadline == 2;
    if (!logged) continue;
    const PartialTimes t = TimesOf(r, reserve, frontend_log, backend_log);
    if (!t.logged) continue;
    run.skew.Add(t.skew);
    run.inflation.Add(t.skew - t.to_handler);
    run.to_handler.Add(t.to_handler);
    run.conclude_lag.Add(t.conclude_lag);
    Add(run.transit, t.transit);
    Add(run.backend_skew, t.backend_skew);
    Add(run.backend_stop, t.backend_stop_latency);
    Add(run.panel_end_lag, t.panel_end_lag);
    run.by_frontend_timer += t.panels_by_frontend_timer > 0;
    if (!late) continue;
    ++run.late_logged;
    run.late_skew.Add(t.skew);
    run.late_inflation.Add(t.skew - t.to_handler);
    run.late_to_handler.Add(t.to_handler);
    run.late_conclude_lag.Add(t.conclude_lag);
    Add(run.late_backend_skew, t.backend_skew);
    Add(run.late_backend_stop, t.backend_stop_latency);
    Add(run.late_panel_end_lag, t.panel_end_lag);
    run.late_by_frontend_timer += t.panels_by_frontend_timer > 0;
    const auto ms = [](absl::Duration d) {
      return absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(d));
    };
    late_lines.emplace_back(
        t.frontend_end_after_deadline,
        absl::StrCat(
            CodeName(r.code), r.trace.has_value() ? "" : " (client's timer)",
            ": frontend answered ", ms(t.frontend_end_after_deadline),
            " ms after the client's deadline = skew ", ms(t.skew),
            " - reserve ", ms(reserve), " + answer after forward deadline ",
            ms(t.conclude_lag), " (handler ran ", ms(t.to_handler),
            " ms after the send",
            t.backend_skew.has_value()
                ? absl::StrCat("; backend deadline ", ms(*t.backend_skew),
                               " ms after the forward deadline, stop latency ",
                               ms(*t.backend_stop_latency))
                : "",
            ")"));
  }
  std::sort(late_deadlines.begin(), late_deadlines.end());
  for (size_t i = 0, size = 0; i < late_deadlines.size(); ++i) {
    if (i == 0 ||
        late_deadlines[i] - late_deadlines[i - 1] > absl::Milliseconds(20)) {
      ++run.bursts;
      size = 0;
    }
    run.largest_burst = std::max(run.largest_burst, static_cast<int>(++size));
  }
  std::sort(late_lines.begin(), late_lines.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < late_lines.size() && i < 3; ++i) {
    run.worst.push_back(late_lines[i].second);
  }
  run.lateness = lateness.Summarize();
  return run;
}

// Over a connection of its own to the backend at `address`: one call with
// a deadline `first` from its start, then `n` calls with `then`; returns how
// much later than the client's deadline the backend's was, for the latter.
// gRPC's HPACK encoder sends a timeout as an index to one it sent before on
// the connection when the new one is shorter by less than 3%, so after
// `first` the server may see a longer timeout than the client set.
Distribution TimeoutProbe(const std::string& address, absl::Duration first,
                          absl::Duration then, int n, int id) {
  grpc::ChannelArguments args;
  args.SetInt("deadline.bench.probe", id);  // A connection of its own.
  auto stub = deadline::v1::Backend::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
  Distribution skew;
  for (int i = 0; i <= n; ++i) {
    grpc::ClientContext context;
    const absl::Time deadline = absl::Now() + (i == 0 ? first : then);
    context.set_deadline(ToGrpcDeadline(deadline));
    WantTrace(context);
    deadline::v1::WorkReply reply;
    const grpc::Status status =
        stub->Work(&context, Work(0, absl::ZeroDuration()), &reply);
    const auto trace = TraceFrom(context);
    if (i == 0 || !status.ok() || !trace.has_value() ||
        trace->hops_size() == 0 || !trace->hops(0).has_deadline()) {
      continue;
    }
    skew.Add(FromProtoTime(trace->hops(0).deadline()) - deadline);
  }
  return skew;
}

// "p50 1.2, p99 3.4, max 5.6 ms".
std::string Brief(const Distribution& d) {
  if (d.empty()) return "none";
  const Summary s = d.Summarize();
  return absl::StrFormat("p50 %.2f, p99 %.2f, max %.2f ms (n=%d)", s.p50 / 1000,
                         s.p99 / 1000, s.max / 1000, s.count);
}
std::string BriefLate(const Distribution& d) {
  if (d.empty()) return "none";
  const Summary s = d.Summarize();
  return absl::StrFormat("min %.2f, p50 %.2f, max %.2f ms (n=%d)", s.min / 1000,
                         s.p50 / 1000, s.max / 1000, s.count);
}

}  // namespace

Section Partial(const Config& config) {
  Section section{"partial",
                  "10. PARTIAL fan-outs at 600 calls/s, 150 ms deadlines "
                  "(real processes): where the time goes"};
  if (SkippedWithoutBinaries(config, section, "partial")) return section;
  const double load_before = LoadAverage();
  const double rate = config.quick ? 50 : 600;
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(10);
  const absl::Duration deadline = absl::Milliseconds(150);
  // Two panels that fit the budget and two that cannot (1 s each): PARTIAL
  // must answer OK in time, the slow panels DEADLINE_EXCEEDED.
  FetchAllRequest request;
  request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
  for (int p = 0; p < 4; ++p) {
    *request.add_panels() = p % 2 == 0 ? Work(1, absl::Milliseconds(20))
                                       : Work(10, absl::Milliseconds(100));
  }
  std::vector<std::unique_ptr<ChildServer>> backends;
  std::vector<std::string> addresses;
  std::vector<pid_t> pids;
  for (int i = 0; i < 2; ++i) {
    // Errors only: each slow panel's line, with its stop latency.
    backends.push_back(
        ChildServer::Start(config.bin_dir, "server/backend/backend", {"--log=errors"}));
    if (backends.back() == nullptr) {
      section.rows.push_back(Info("partial", "a backend did not start"));
      return section;
    }
    addresses.push_back(backends.back()->address());
    pids.push_back(backends.back()->pid());
  }
  {
    // The mechanism behind most of the skew below, in isolation.
    const int n = config.quick ? 5 : 50;
    const Distribution plain = TimeoutProbe(
        addresses[0], absl::Milliseconds(150), absl::Milliseconds(150), n, 1);
    const Distribution after =
        TimeoutProbe(addresses[0], absl::Microseconds(154'400),
                     absl::Milliseconds(150), n, 2);
    const Summary p = plain.Summarize();
    const Summary a = after.Summarize();
    section.rows.push_back(
        Info("probe: backend's deadline - client's, 150 ms calls on a fresh "
             "connection; the same after one 154.4 ms call",
             absl::StrFormat("p50 %.2f, max %.2f ms; p50 %.2f, max %.2f ms "
                             "(n=%d each, one call at a time)",
                             p.p50 / 1000, p.max / 1000, a.p50 / 1000,
                             a.max / 1000, a.count)));
    section.figures["probe_plain_skew.p50_us"] = p.p50;
    section.figures["probe_after_longer_skew.p50_us"] = a.p50;
  }
  section.rows.push_back(Info(
      "setup",
      absl::StrFormat(
          "a frontend over 2 backends (default flags); FetchAll PARTIAL of 4 "
          "sleeping panels, 2 of 20 ms (fit) and 2 of 1 s (cannot), panel i "
          "on backend i mod 2; Poisson arrivals at %.0f/s for %s per run; "
          "the client asks every call's trace",
          rate, absl::FormatDuration(run_for))));

  struct Variant {
    absl::Duration reserve;
    bool log_all;
  };
  // Quick mode runs the one variant that goes through every path.
  const std::vector<Variant> variants =
      config.quick ? std::vector<Variant>{{absl::Milliseconds(10), true}}
                   : std::vector<Variant>{
                         {absl::Milliseconds(10), false},
                         {absl::Milliseconds(10), true},
                         // 10 ms plus 3% of 150 ms: what taking the HPACK
                         // allowance off the budget would amount to here.
                         {absl::Microseconds(14'500), true},
                         {absl::Milliseconds(20), true},
                         {absl::Milliseconds(30), true},
                     };
  bool capacity_done = false;
  for (const Variant& variant : variants) {
    const std::string reserve_text = absl::FormatDuration(variant.reserve);
    auto frontend = ChildServer::Start(
        config.bin_dir, "server/frontend/frontend",
        {absl::StrCat("--backend=", absl::StrJoin(addresses, ",")),
         absl::StrCat("--reserve=", reserve_text),
         variant.log_all ? "--log=all" : "--log=errors"});
    if (frontend == nullptr) {
      section.rows.push_back(Info("partial", "the frontend did not start"));
      return section;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();  // Connects.
    std::vector<pid_t> all = pids;
    all.push_back(frontend->pid());
    CpuMeter cpu(all);
    if (!capacity_done) {
      // What the chain's CPU allows for this shape of call: the same
      // fan-out with panels of no work, closed loop.
      FetchAllRequest empty = request;
      for (auto& panel : *empty.mutable_panels()) {
        panel = Work(0, absl::ZeroDuration());
      }
      struct ClosedCall {
        grpc::ClientContext context;
        deadline::v1::FetchAllReply reply;
      };
      const auto one = [&](std::function<void()> done) {
        auto* call = new ClosedCall;
        call->context.set_deadline(
            ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
        stub->async()->FetchAll(&call->context, &empty, &call->reply,
                                [call, done](grpc::Status) {
                                  delete call;
                                  done();
                                });
      };
      ClosedLoopRate(16, absl::Milliseconds(config.quick ? 100 : 500), one);
      const double capacity = ClosedLoopRate(
          16, config.quick ? absl::Milliseconds(200) : absl::Seconds(3), one);
      section.rows.push_back(Info(
          "CPU capacity for this fan-out (panels of no work, closed loop, 16 "
          "in flight)",
          absl::StrFormat("%.0f calls/s: %.0f/s is %s of it", capacity, rate,
                          Pct(rate / capacity))));
      section.figures["capacity_empty_fanout_calls_per_s"] = capacity;
      capacity_done = true;
      frontend->TakeLog();
    }
    const PartialRun run =
        DrivePartial(rate, run_for, variant.reserve, variant.log_all, *stub,
                     request, deadline, *frontend, backends, cpu);
    const std::string n = absl::StrCat(
        "reserve ", reserve_text,
        variant.log_all ? " (frontend --log=all)" : " (--log=errors)");
    section.rows.push_back(Info(
        absl::StrCat(n, ": offered, answered"),
        absl::StrFormat("%.0f calls/s: %s; %d OK with the 2 fast panels OK "
                        "and the 2 slow ones DEADLINE_EXCEEDED; CPU backends "
                        "%.2f + %.2f, frontend %.2f, client %.2f cores",
                        run.offered, run.codes, run.ok_as_expected,
                        run.cores[0], run.cores[1], run.cores[2],
                        run.cores[3])));
    const double fraction =
        run.calls > 0 ? static_cast<double>(run.deadline_exceeded) / run.calls
                      : 0;
    section.rows.push_back(AtMost(
        absl::StrCat(n, ": DEADLINE_EXCEEDED at the client"), fraction, 0,
        absl::StrFormat("%s (%d of %d; %d by the client's own timer)",
                        Pct(fraction), run.deadline_exceeded, run.calls,
                        run.client_timer),
        "0 below capacity"));
    section.rows.push_back(Info(
        absl::StrCat(n, ": answer after the client's deadline"),
        absl::StrFormat("%d late, in %d bursts (late deadlines < 20 ms apart; "
                        "the largest %d calls); lateness p50 %s, p99 %s, max "
                        "%s",
                        run.late, run.bursts, run.largest_burst,
                        Ms(run.lateness.p50), Ms(run.lateness.p99),
                        Ms(run.lateness.max))));
    section.rows.push_back(
        Info(absl::StrCat(n, ": waiting for a CPU"),
             absl::StrFormat("run-queue wait, ms per s: backends %.1f + %.1f, "
                             "frontend %.1f, client %.1f; the client's 1 ms "
                             "sleeps: %s",
                             run.waits[0], run.waits[1], run.waits[2],
                             run.waits[3], run.stalls)));
    const std::string f = absl::StrCat("reserve_", reserve_text,
                                       variant.log_all ? "_log_all" : "");
    section.figures[f + ".deadline_exceeded_fraction"] = fraction;
    section.figures[f + ".deadline_exceeded"] = run.deadline_exceeded;
    section.figures[f + ".client_timer"] = run.client_timer;
    section.figures[f + ".calls"] = run.calls;
    section.figures[f + ".late_bursts"] = run.bursts;
    section.figures[f + ".frontend_wait_ms_per_s"] = run.waits[2];
    AddFigures(section, f + ".lateness", run.lateness);
    if (variant.log_all) {
      section.rows.push_back(Info(
          absl::StrCat(n, ": every call: frontend deadline - client's (skew)"),
          Brief(run.skew)));
      section.rows.push_back(
          Info(absl::StrCat(n, ": every call: handler start - client's send"),
               Brief(run.to_handler)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": every call: skew - (handler start - send): the "
                            "timeout itself grew (at least this)"),
               Brief(run.inflation)));
      section.rows.push_back(
          Info(absl::StrCat(
                   n, ": every call: frontend answer - its forward deadline"),
               Brief(run.conclude_lag)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": every call: slow panel's end at the frontend - "
                            "forward deadline (trace)"),
               Brief(run.panel_end_lag)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": every call: backend deadline - forward deadline "
                            "(second-hop skew); backend stop latency"),
               absl::StrCat(Brief(run.backend_skew), "; ",
                            Brief(run.backend_stop))));
      section.rows.push_back(Info(
          absl::StrCat(n, ": every call: client's receipt - frontend answer"),
          Brief(run.transit)));
      section.rows.push_back(
          Info(absl::StrCat(n,
                            ": calls whose slow panel the frontend's own timer "
                            "ended (the backend had not answered)"),
               absl::StrFormat("%d of %d; of the late: %d of %d",
                               run.by_frontend_timer, run.calls,
                               run.late_by_frontend_timer, run.late_logged)));
      if (run.late_logged > 0) {
        section.rows.push_back(Info(
            absl::StrCat(n,
                         ": late calls: skew; handler start - send; timeout "
                         "growth"),
            absl::StrCat(BriefLate(run.late_skew), "; ",
                         BriefLate(run.late_to_handler), "; ",
                         BriefLate(run.late_inflation))));
        section.rows.push_back(Info(
            absl::StrCat(n,
                         ": late calls: frontend answer - forward deadline; "
                         "slow panel's end there (trace)"),
            absl::StrCat(BriefLate(run.late_conclude_lag), "; ",
                         BriefLate(run.late_panel_end_lag))));
        section.rows.push_back(
            Info(absl::StrCat(n,
                              ": late calls: second-hop skew; backend stop "
                              "latency"),
                 absl::StrCat(BriefLate(run.late_backend_skew), "; ",
                              BriefLate(run.late_backend_stop))));
        for (size_t i = 0; i < run.worst.size(); ++i) {
          section.rows.push_back(
              Info(absl::StrCat(n, ": late call #", i + 1), run.worst[i]));
        }
      }
      AddFigures(section, f + ".skew", run.skew.Summarize());
      AddFigures(section, f + ".inflation", run.inflation.Summarize());
      AddFigures(section, f + ".to_handler", run.to_handler.Summarize());
      AddFigures(section, f + ".conclude_lag", run.conclude_lag.Summarize());
      AddFigures(section, f + ".backend_skew", run.backend_skew.Summarize());
      AddFigures(section, f + ".backend_stop", run.backend_stop.Summarize());
      AddFigures(section, f + ".transit", run.transit.Summarize());
      AddFigures(section, f + ".late_skew", run.late_skew.Summarize());
      AddFigures(section, f + ".late_conclude_lag",
                 run.late_conclude_lag.Summarize());
    }
  }
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Times here are differences on the machine's one clock. For each call: "
      "the client's deadline D; the frontend's deadline Df (the grpc-timeout "
      "it received, counted by gRPC from when it read the headers); the "
      "frontend answers a PARTIAL call when its slow panels end at its "
      "forward deadline Df - reserve, by the backend's answer or its own "
      "timer, so the answer leaves at D + skew - reserve + lag (skew = Df - "
      "D, lag = the answer after the forward deadline) and is late when "
      "skew + lag + transit exceeds the reserve. SKEW: gRPC 1.51's HPACK "
      "encoder compresses grpc-timeout: when the timeout to send is shorter "
      "than one sent before on the same connection by less than 3%, it "
      "sends the index of that earlier, longer one "
      "(src/core/ext/transport/chttp2/transport/hpack_encoder.cc, "
      "Encode(GrpcTimeoutMetadata); still so in later releases). A hop may "
      "thus receive up to 3% more time than its caller has, 4.5 ms of a "
      "150 ms deadline: the probe row shows it in isolation. The entry "
      "reused is an earlier timeout up to 3% longer that the connection "
      "sent, and it stays for the connection's life (gRPC does not index "
      "x-request-id or other custom metadata, so nothing evicts it): a "
      "run's skew sits at a level between 0 and ~4.5 ms set by its early "
      "calls, different between runs and connections (compare the skew "
      "rows); the "
      "'timeout itself grew' row is the skew less the time until the "
      "handler ran. The time a call waits before gRPC reads its headers "
      "adds to the skew too, but at 600/s it is small (handler start - "
      "send, p50 ~0.2 ms); its tail is the processes waiting for a CPU. "
      "The second hop skews the same way: the backend's deadline is later "
      "than the frontend's forward deadline by up to 3% of ~140 ms, more "
      "than the backend's 2 ms reserve, so for many calls the frontend's "
      "own timer ends the slow panel before the backend answers (the "
      "'frontend's own timer' row), and the panel loses the backend's "
      "account. LAG: gRPC's timer for the backend call fires ~1 ms after "
      "the forward deadline (deadlines round up to the millisecond), then "
      "the frontend concludes; its tail is the frontend waiting for a CPU. "
      "Before the fix, with the default 10 ms reserve, skew (up to ~5 ms) "
      "+ lag (p99 ~3-4 ms) + transit (p99 ~2 ms) left almost nothing, and "
      "2-3% of the calls came back late (a high skew meeting a lag tail, or "
      "a stalled process). The fix is in server/deadline/budget.cc (ArrivalSlack): "
      "each hop takes the HPACK allowance off what arrived, as it did the "
      "wire rounding, usable = at_arrival - (rounding + 3% of at_arrival "
      "rounded up to the ms), so the reserve is left for timer lag, "
      "transit and scheduling, and the backend's 2 ms reserve holds again "
      "(the second-hop skew row is now below zero). Every run above has "
      "it; the larger reserves show what margin is left. 14.5 ms is 10 ms "
      "plus 3% of 150 ms, what the fix amounts to at this deadline. A late "
      "answer that remains would have been answered by the frontend well "
      "before the deadline and reached the client too late: a stall of "
      "the client or the frontend (their run-queue waits and the client's "
      "own sleeps say so), which no reserve removes.";
  return section;
}

// ---------------------------------------------------------------------------
// Hedging.

namespace {

struct HedgeRun {
  int calls = 0;
  std::string codes;
  Distribution latency;       // OK calls, client-side.
  Distribution fast_latency;  // OK calls answered by the fast backend
                              // without a hedge.
  int64_t backend_calls = 0;  // Started at both backends.
  int hedged = 0;             // Calls with a second attempt (traces).
  int won_by_hedge = 0;
  Distribution loser_stop;   // Loser's end at its backend - winner's end.
  int losers_cancelled = 0;  // CANCELLED lines at the backends.
  int64_t in_flight_after = 0;
};

HedgeRun DriveHedging(double rate, absl::Duration duration,
                      deadline::v1::Frontend::Stub& stub,
                      const FetchRequest& fetch,
                      std::vector<std::unique_ptr<ChildServer>>& backends,
                      const std::string& fast_address) {
  for (auto& b : backends) b->TakeLog();
  int64_t started_before = 0;
  for (auto& b : backends) started_before += b->Stats().calls_started();
  OpenLoop loop(rate, duration, 11);
  loop.Run([&](CallRecord& record, std::function<void()> done) {
    StartFetch(stub, fetch, absl::Seconds(1), /*want_trace=*/true, record,
               std::move(done));
  });
  HedgeRun run;
  for (auto& b : backends)
    run.in_flight_after += WaitIdle(*b, absl::Seconds(5));
  absl::SleepFor(absl::Milliseconds(100));  // The last log lines.
  int64_t started_after = 0;
  for (auto& b : backends) started_after += b->Stats().calls_started();
  run.backend_calls = started_after - started_before;
  std::map<std::string, std::vector<LoggedCall>> losers;
  for (auto& b : backends) {
    for (auto& [id, calls] : ParseCallLog(b->TakeLog())) {
      for (const LoggedCall& c : calls) {
        if (c.code != "CANCELLED") continue;
        losers[id].push_back(c);
        ++run.losers_cancelled;
      }
    }
  }
  const auto& records = loop.records();
  run.calls = static_cast<int>(records.size());
  run.codes = CodeCounts(records);
  for (const CallRecord& r : records) {
    if (r.code != grpc::StatusCode::OK) continue;
    run.latency.Add(r.answered - r.sent);
    if (!r.trace.has_value()) continue;
    const deadline::v1::HopTrace* winner = nullptr;
    int attempts = 0;
    for (const auto& hop : r.trace->hops()) {
      if (hop.hop() != "backend") continue;
      ++attempts;
      if (hop.code() == "OK") winner = &hop;
    }
    run.hedged += attempts > 1;
    if (winner == nullptr) continue;
    run.won_by_hedge += winner->hedge();
    if (attempts == 1 && winner->address() == fast_address) {
      run.fast_latency.Add(r.answered - r.sent);
    }
    const auto loser = losers.find(r.request_id);
    if (loser == losers.end()) continue;
    for (const LoggedCall& c : loser->second) {
      run.loser_stop.Add(c.finished - FromProtoTime(winner->finished_at()));
    }
  }
  return run;
}

}  // namespace

Section Hedging(const Config& config) {
  Section section{"hedging",
                  "11. Hedging over a 10x slower backend (real processes)"};
  if (SkippedWithoutBinaries(config, section, "hedging")) return section;
  const double load_before = LoadAverage();
  const double rate = config.quick ? 40 : 100;
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(500) : absl::Seconds(10);
  // One sleeping step: 10 ms on the fast backend, 100 ms on the slow one.
  const FetchRequest fetch = FetchOf(Work(1, absl::Milliseconds(10)));
  std::vector<std::unique_ptr<ChildServer>> backends;
  for (const char* slowdown : {"--slowdown=1", "--slowdown=10"}) {
    // Errors only: the losing attempts' lines (CANCELLED), with their end.
    backends.push_back(ChildServer::Start(config.bin_dir, "server/backend/backend",
                                          {slowdown, "--log=errors"}));
    if (backends.back() == nullptr) {
      section.rows.push_back(Info("hedging", "a backend did not start"));
      return section;
    }
  }
  const std::string fast = backends[0]->address();
  const std::string slow = backends[1]->address();
  const std::string backend_flag = absl::StrCat("--backend=", fast, ",", slow);
  section.rows.push_back(Info(
      "setup",
      absl::StrFormat("frontend %s (Fetch calls take them in turn; a hedge "
                      "goes to the next one); backends fast and "
                      "--slowdown=10; Fetch of 1 sleeping step of 10 ms, "
                      "1 s deadline; Poisson arrivals at %.0f/s for %s",
                      "--backend=fast,slow", rate,
                      absl::FormatDuration(run_for))));

  HedgeRun off;
  HedgeRun on;
  absl::Duration hedge_after = absl::Milliseconds(15);
  for (bool hedging : {false, true}) {
    std::vector<std::string> args = {backend_flag, "--log=none"};
    if (hedging) {
      args.push_back(
          absl::StrCat("--hedge_after=", absl::FormatDuration(hedge_after)));
    }
    auto frontend = ChildServer::Start(config.bin_dir, "server/frontend/frontend", args);
    if (frontend == nullptr) {
      section.rows.push_back(Info("hedging", "the frontend did not start"));
      return section;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();  // Connects.
    // Warm-up: both backend connections.
    for (int i = 0; i < 4; ++i) {
      grpc::ClientContext context;
      context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(1)));
      deadline::v1::FetchReply reply;
      stub->Fetch(&context, fetch, &reply).IgnoreError();
    }
    HedgeRun run = DriveHedging(rate, run_for, *stub, fetch, backends, fast);
    if (!hedging) {
      // The hedge delay: the fast backend's p95 through the chain.
      const double p95 = run.fast_latency.Percentile(0.95);
      if (p95 > 0) {
        hedge_after =
            absl::Ceil(absl::Microseconds(p95), absl::Microseconds(100));
      }
      off = std::move(run);
    } else {
      on = std::move(run);
    }
  }
  const Summary a = off.latency.Summarize();
  const Summary b = on.latency.Summarize();
  const auto latency = [](const Summary& s) {
    return absl::StrFormat("p50 %s, p90 %s, p99 %s, max %s (n=%d)", Ms(s.p50),
                           Ms(s.p90), Ms(s.p99), Ms(s.max), s.count);
  };
  section.rows.push_back(
      Info("hedging off: fast backend alone, through the chain",
           absl::StrFormat("p50 %s, p95 %s: --hedge_after=%s",
                           Ms(off.fast_latency.Percentile(0.5)),
                           Ms(off.fast_latency.Percentile(0.95)),
                           absl::FormatDuration(hedge_after))));
  for (const auto* run : {&off, &on}) {
    const std::string n =
        run == &off ? "hedging off"
                    : absl::StrCat("hedging on (--hedge_after=",
                                   absl::FormatDuration(hedge_after), ")");
    const Summary s = run->latency.Summarize();
    section.rows.push_back(Info(absl::StrCat(n, ": answered"), run->codes));
    section.rows.push_back(
        Info(absl::StrCat(n, ": latency of OK calls"), latency(s)));
    section.rows.push_back(Info(
        absl::StrCat(n, ": backend calls per call (both backends' Stats)"),
        absl::StrFormat(
            "%.2f (%d calls hedged, %d won by the hedge)",
            run->calls ? static_cast<double>(run->backend_calls) / run->calls
                       : 0.0,
            run->hedged, run->won_by_hedge)));
    AddFigures(section, run == &off ? "off.latency" : "on.latency", s);
    section.figures[run == &off ? "off.attempts_per_call"
                                : "on.attempts_per_call"] =
        run->calls ? static_cast<double>(run->backend_calls) / run->calls : 0;
  }
  const Summary stop = on.loser_stop.Summarize();
  section.rows.push_back(AtMost(
      "hedging on: the losing attempt's end at its backend - the winner's "
      "end",
      stop.p99, 5000,
      absl::StrFormat("p50 %s, p99 %s, max %s (%d losers cancelled at the "
                      "backends); calls in flight after: %d",
                      Ms(stop.p50), Ms(stop.p99), Ms(stop.max),
                      on.losers_cancelled, on.in_flight_after),
      "p99 <= 5 ms"));
  const double ratio = b.p99 > 0 ? a.p99 / b.p99 : 0;
  section.rows.push_back(AtLeast("p99 off / on", ratio, 2, X(ratio), ">= 2x"));
  const double extra =
      off.calls && on.calls
          ? static_cast<double>(on.backend_calls) / on.calls -
                static_cast<double>(off.backend_calls) / off.calls
          : 0;
  section.rows.push_back(Info("extra load: backend calls per client call",
                              absl::StrFormat("+%.2f", extra)));
  section.figures["p99_off_over_on"] = ratio;
  section.figures["hedge_after_us"] = absl::ToDoubleMicroseconds(hedge_after);
  AddFigures(section, "loser_stop", stop);
  section.distributions = {off.latency, on.latency};
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Fetch calls take the backends in turn, so half start on the slow one. "
      "Hedging off, those answer in the slow backend's ~100 ms: p90 and "
      "p99 are the slow backend's, and the p50 falls on the boundary "
      "between the two halves. Hedging on, with --hedge_after at the fast "
      "backend's p95 through the chain, every call that started on the "
      "slow backend gets a second attempt on the fast one and answers at "
      "hedge delay + the fast call; the slow attempt is cancelled with "
      "TryCancel the moment the hedge wins, and the slow backend ends it "
      "(OnCancel of a sleeping call) within about a millisecond of the "
      "winner's end (from the backends' log lines: the loser's end at its "
      "backend less the winner's end at its own). The cost is the second "
      "attempts: +0.5 backend calls per call, each losing attempt having "
      "run only for the hedge delay. Few fast-first calls pass the p95 "
      "through the chain, so few hedges go to the slow backend. A real "
      "service would take the delay from the p95 of all its backends; a "
      "deliberately bimodal pair makes the win large here.";
  return section;
}

// ---------------------------------------------------------------------------
// Work for callers that left.

Section IgnoredCancel(const Config& config) {
  Section section{"ignored_cancel",
                  "12. Work done for callers that left: propagation on, off, "
                  "and a backend that ignores cancellation (real "
                  "processes)"};
  if (SkippedWithoutBinaries(config, section, "ignored_cancel")) return section;
  const double load_before = LoadAverage();
  const double rate = config.quick ? 20 : 20;
  const absl::Duration run_for =
      config.quick ? absl::Milliseconds(300) : absl::Seconds(5);
  const absl::Duration leave_after = absl::Milliseconds(50);
  const absl::Duration step = absl::Milliseconds(10);
  const FetchRequest fetch = FetchOf(Work(20, step));  // 200 ms.
  section.rows.push_back(Info(
      "setup",
      absl::StrFormat("Fetch of 20 sleeping steps of 10 ms; every other call "
                      "has a 50 ms deadline, the rest no deadline and a "
                      "client cancel after 50 ms; Poisson arrivals at %.0f/s "
                      "for %s",
                      rate, absl::FormatDuration(run_for))));
  struct Variant {
    std::string name;
    std::vector<std::string> backend_args;
    std::vector<std::string> frontend_args;
  };
  const std::vector<Variant> variants = {
      {"propagation on, backend checks", {}, {}},
      {"frontend --propagation=off (anti-pattern)", {}, {"--propagation=off"}},
      {"backend --ignore_cancel (anti-pattern)", {"--ignore_cancel"}, {}},
  };
  for (const Variant& variant : variants) {
    std::vector<std::string> backend_args = variant.backend_args;
    backend_args.push_back("--log=all");  // Every call's steps and end.
    auto backend =
        ChildServer::Start(config.bin_dir, "server/backend/backend", backend_args);
    if (backend == nullptr) {
      section.rows.push_back(
          Info(variant.name,
               "the backend did not start (--ignore_cancel is on "
               "main from 2026-11-23)"));
      continue;
    }
    std::vector<std::string> frontend_args = variant.frontend_args;
    frontend_args.push_back("--log=none");
    frontend_args.push_back(absl::StrCat("--backend=", backend->address()));
    auto frontend =
        ChildServer::Start(config.bin_dir, "server/frontend/frontend", frontend_args);
    if (frontend == nullptr) {
      section.rows.push_back(Info(variant.name, "the frontend did not start"));
      continue;
    }
    auto stub = deadline::v1::Frontend::NewStub(frontend->channel());
    frontend->Stats();
    backend->TakeLog();
    OpenLoop loop(rate, run_for, 5);
    int index = 0;
    loop.Run([&](CallRecord& record, std::function<void()> done) {
      const bool cancels = index++ % 2 == 1;
      record.kind = cancels;
      StartFetch(*stub, fetch, cancels ? absl::InfiniteDuration() : leave_after,
                 /*want_trace=*/false, record, std::move(done),
                 cancels ? leave_after : absl::InfiniteDuration());
    });
    const int64_t in_flight = WaitIdle(*backend, absl::Seconds(10));
    absl::SleepFor(absl::Milliseconds(100));  // The last log lines.
    const auto log = ParseCallLog(backend->TakeLog());
    int64_t steps = 0;
    int64_t after = 0;
    int matched = 0;
    int full = 0;
    Distribution worked_after;
    for (const CallRecord& r : loop.records()) {
      const auto it = log.find(r.request_id);
      if (it == log.end() || it->second.empty()) continue;
      const LoggedCall& b = it->second.front();
      const absl::Time left = r.sent + leave_after;
      const int by_then = static_cast<int>(
          std::clamp<int64_t>((left - b.arrived) / step, 0, 20));
      ++matched;
      steps += b.steps_done;
      full += b.steps_done == 20;
      after += std::max(0, b.steps_done - by_then);
      worked_after.Add(std::max(b.finished - left, absl::ZeroDuration()));
    }
    const Summary w = worked_after.Summarize();
    const double per_call = matched ? static_cast<double>(steps) / matched : 0;
    const double after_per_call =
        matched ? static_cast<double>(after) / matched : 0;
    section.rows.push_back(Info(
        absl::StrCat(variant.name, ": steps done per call"),
        absl::StrFormat("%.1f of 20 (%d of %d calls ran all 20); answered: %s",
                        per_call, full, matched, CodeCounts(loop.records()))));
    section.rows.push_back(Info(
        absl::StrCat(variant.name, ": steps done after the caller left"),
        absl::StrFormat("%.1f per call (%s of all steps); backend busy after "
                        "the caller left: mean %s, max %s; calls in flight "
                        "after: %d",
                        after_per_call,
                        Pct(steps ? static_cast<double>(after) / steps : 0),
                        Ms(w.mean), Ms(w.max), in_flight)));
    const std::string f =
        variant.backend_args.empty()
            ? (variant.frontend_args.empty() ? "on" : "propagation_off")
            : "ignore_cancel";
    section.figures[f + ".steps_per_call"] = per_call;
    section.figures[f + ".steps_after_left_per_call"] = after_per_call;
    section.figures[f + ".busy_after_left_mean_us"] = w.mean;
  }
  section.rows.push_back(LoadRow(load_before, LoadAverage()));
  section.analysis =
      "Same load for each: with propagation and a backend that checks, no "
      "step runs after the caller left; the backend ends the call within "
      "about a millisecond (the busy-after figure). With propagation off "
      "the backend never hears that the caller left and runs all 20 steps "
      "of every call, 16 of them (~150 ms) for nobody. With "
      "--ignore_cancel the cancellation reaches the backend and is never "
      "checked: the waste is exactly that of propagation off. Propagation "
      "without checking saves nothing; checking is the half that does the "
      "work. (With propagation on, a sleeping call that the client "
      "cancels reports 0 steps done: the backend counts a sleeping call's "
      "steps when its timer fires, not when OnCancel ends it; the steps "
      "after the caller left are 0 either way.)";
  return section;
}

}  // namespace deadline::bench

// The soak: a frontend and a backend, real processes, under a steady mix of
// every kind of call for a long time (10 minutes by default, bounded),
// while their memory, threads and open files are sampled. It reports how
// each grew after the warm-up (a least-squares slope) and checks that
// nothing leaked: both servers stay up, calls_in_flight is 0 at the end,
// open files are back to their count at rest, memory growth after the
// warm-up stays under --max_rss_growth_mb, each kind of call got the answer
// it should, and both servers exit 0 on SIGTERM.
//
// Usage: soak --bin_dir=DIR [--duration=10m] [--warmup=1m] [--rate=200]
//             [--sample_every=5s] [--max_rss_growth_mb=5] [--json=FILE]
// Exit status: 0 when every check held, 1 when one did not, 2 for bad flags.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/child_server.h"
#include "bench/harness.h"
#include "bench/open_loop.h"
#include "client/calls.h"
#include "common/flags.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "tests/support/proc_stats.h"
#include "tests/support/test_servers.h"

ABSL_FLAG(std::string, bin_dir, "",
          "folder with server/backend/backend and server/frontend/frontend");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(10),
          "how long the load runs (10s to 2h)");
ABSL_FLAG(absl::Duration, warmup, absl::Minutes(1),
          "growth is measured from this long after the start");
ABSL_FLAG(double, rate, 200, "unary calls per second, all kinds together");
ABSL_FLAG(absl::Duration, sample_every, absl::Seconds(5),
          "how often RSS, threads and open files are read");
ABSL_FLAG(double, max_rss_growth_mb, 5,
          "the most either server's RSS may grow after the warm-up (the "
          "fitted line's rise over the rest of the run)");
ABSL_FLAG(std::string, json, "", "also write the figures to this file");

namespace deadline::bench {
namespace {

using deadline::v1::FetchAllRequest;
using deadline::v1::FetchRequest;
using deadline::v1::WorkRequest;
using testing::Work;

// The kinds of call in the mix, each with the code it should get.
struct Kind {
  std::string name;
  double weight;
  grpc::StatusCode expected;
};

enum KindId {
  kFetchOk,
  kFetchSpin,
  kFetchNoDeadline,
  kFetchDeadline,
  kFetchCancel,
  kAllOk,
  kAllFails,
  kPartial,
  kWorkDirect,
  kBadRequest,
  kGarbage,
  kStreamAll,
  kStreamStop,
  kKinds,
};

const std::vector<Kind>& Kinds() {
  static const auto* kinds = new std::vector<Kind>{
      {"Fetch, OK in time", 25, grpc::StatusCode::OK},
      {"Fetch, CPU-bound, OK", 5, grpc::StatusCode::OK},
      {"Fetch without a deadline (the frontend's default)", 10,
       grpc::StatusCode::OK},
      {"Fetch whose deadline expires", 10, grpc::StatusCode::DEADLINE_EXCEEDED},
      {"Fetch the client cancels", 10, grpc::StatusCode::CANCELLED},
      {"FetchAll all-or-nothing, OK", 5, grpc::StatusCode::OK},
      {"FetchAll all-or-nothing, a panel runs out of time", 5,
       grpc::StatusCode::DEADLINE_EXCEEDED},
      {"FetchAll partial, a panel runs out of time", 10, grpc::StatusCode::OK},
      {"Backend.Work direct", 5, grpc::StatusCode::OK},
      {"Fetch with an invalid request", 5, grpc::StatusCode::INVALID_ARGUMENT},
      {"Fetch of bytes that do not parse", 5,
       grpc::StatusCode::INVALID_ARGUMENT},
      // Streams run on threads of their own, not by weight.
      {"Backend.WorkStream read to the end", 0, grpc::StatusCode::OK},
      {"Backend.WorkStream read 3, then cancelled", 0,
       grpc::StatusCode::CANCELLED},
  };
  return *kinds;
}

// Calls by kind and code. Thread-safe.
class Tally {
 public:
  void Add(int kind, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    ++counts_[kind][code];
  }
  std::map<int, std::map<grpc::StatusCode, int64_t>> Get() const {
    absl::MutexLock lock(&mu_);
    return counts_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<int, std::map<grpc::StatusCode, int64_t>> counts_
      ABSL_GUARDED_BY(mu_);
};

struct Sample {
  double minutes;  // Since the load started.
  double rss_mb;
  int threads;
  int fds;
  int64_t in_flight;
};

struct Growth {
  double slope_mb_per_min = 0;  // Least squares, after the warm-up.
  double rise_mb = 0;           // The fitted line over that span.
  double min_mb = 0, max_mb = 0;
};

Growth GrowthOf(const std::vector<Sample>& samples, double from_minutes) {
  std::vector<std::pair<double, double>> points;
  for (const Sample& s : samples) {
    if (s.minutes >= from_minutes) points.emplace_back(s.minutes, s.rss_mb);
  }
  Growth g;
  if (points.size() < 2) return g;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  g.min_mb = g.max_mb = points[0].second;
  for (const auto& [x, y] : points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    g.min_mb = std::min(g.min_mb, y);
    g.max_mb = std::max(g.max_mb, y);
  }
  const double n = points.size();
  const double denominator = n * sxx - sx * sx;
  if (denominator <= 0) return g;
  g.slope_mb_per_min = (n * sxy - sx * sy) / denominator;
  g.rise_mb = g.slope_mb_per_min * (points.back().first - points[0].first);
  return g;
}

// One server under soak: its samples and resting figures.
struct Watched {
  Watched(std::string name, std::unique_ptr<ChildServer> server)
      : name(std::move(name)), server(std::move(server)) {}

  std::string name;
  std::unique_ptr<ChildServer> server;
  Sample rest{};
  std::vector<Sample> samples;
  Sample end{};
  absl::optional<int> exit_status;
  bool died = false;

  Sample Read(double minutes) const {
    const pid_t pid = server->pid();
    return {minutes, testing::RssMegabytesOf(pid), testing::ThreadsOf(pid),
            testing::FdsOf(pid), server->Stats().calls_in_flight()};
  }
};

WorkRequest Invalid() {
  WorkRequest work = Work(1, absl::Milliseconds(1));
  work.set_steps(-1);
  return work;
}

int Run() {
  const std::string bin_dir = absl::GetFlag(FLAGS_bin_dir);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const double rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration sample_every = absl::GetFlag(FLAGS_sample_every);
  if (bin_dir.empty()) ExitWithUsageError("--bin_dir is required");
  if (duration < absl::Seconds(10) || duration > absl::Hours(2)) {
    ExitWithUsageError("--duration must be from 10s to 2h");
  }
  if (warmup < absl::ZeroDuration() || warmup >= duration) {
    ExitWithUsageError("--warmup must be from 0 to less than --duration");
  }
  if (!(rate > 0 && rate <= 2000)) {
    ExitWithUsageError("--rate must be above 0 and at most 2000");
  }
  if (sample_every < absl::Milliseconds(100) || sample_every > duration) {
    ExitWithUsageError("--sample_every must be from 100ms to --duration");
  }

  // Quiet servers: at this rate their logs would be the biggest thing in
  // memory (here), not in them.
  Watched backend{
      "backend",
      ChildServer::Start(bin_dir, "server/backend/backend", {"--log=none"})};
  if (backend.server == nullptr) {
    std::fprintf(stderr, "soak: the backend did not start\n");
    return 1;
  }
  Watched frontend{
      "frontend", ChildServer::Start(
                      bin_dir, "server/frontend/frontend",
                      {"--log=none",
                       absl::StrCat("--backend=", backend.server->address())})};
  if (frontend.server == nullptr) {
    std::fprintf(stderr, "soak: the frontend did not start\n");
    return 1;
  }
  auto front = deadline::v1::Frontend::NewStub(frontend.server->channel());
  auto back = deadline::v1::Backend::NewStub(backend.server->channel());
  grpc::GenericStub generic(frontend.server->channel());
  // One call of each path, so the resting figures include the connections.
  {
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
    deadline::v1::FetchReply reply;
    front->Fetch(&context, FetchOf(Work(1, absl::Milliseconds(1))), &reply)
        .IgnoreError();
  }
  absl::SleepFor(absl::Milliseconds(200));
  backend.rest = backend.Read(0);
  frontend.rest = frontend.Read(0);
  std::fprintf(stderr,
               "soak: %s of load at %.0f calls/s; at rest: backend %.1f MB, "
               "%d threads, %d fds; frontend %.1f MB, %d threads, %d fds\n",
               absl::FormatDuration(duration).c_str(), rate,
               backend.rest.rss_mb, backend.rest.threads, backend.rest.fds,
               frontend.rest.rss_mb, frontend.rest.threads, frontend.rest.fds);

  Tally tally;
  std::atomic<int64_t> outstanding{0};
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;

  // Streams: two threads, one reading each stream to its end, one reading
  // three messages and cancelling.
  std::vector<std::thread> streams;
  for (int kind : {kStreamAll, kStreamStop}) {
    streams.emplace_back([&, kind] {
      while (!stop.load()) {
        const bool all = kind == kStreamAll;
        WorkStreamCall call(*back,
                            all ? Work(5, absl::Milliseconds(2))
                                : Work(100, absl::Milliseconds(2)),
                            absl::Now() + absl::Seconds(2));
        const WorkStreamCall::Outcome outcome =
            call.Read(all ? 0 : 3, [](const deadline::v1::WorkProgress&) {});
        tally.Add(kind, outcome.status.error_code());
        absl::SleepFor(absl::Milliseconds(50));
      }
    });
  }

  // Unary calls: Poisson arrivals over the weighted kinds.
  std::thread unary([&] {
    std::mt19937_64 random(2026);
    std::exponential_distribution<double> gap(rate);
    std::vector<double> weights;
    for (const Kind& kind : Kinds()) weights.push_back(kind.weight);
    std::discrete_distribution<int> pick(weights.begin(), weights.end());
    const FetchRequest ok_fetch = FetchOf(Work(5, absl::Milliseconds(2)));
    const FetchRequest spin_fetch =
        FetchOf(Work(1, absl::Milliseconds(2), true));
    const FetchRequest long_fetch = FetchOf(Work(100, absl::Milliseconds(10)));
    const FetchRequest bad_fetch = FetchOf(Invalid());
    FetchAllRequest all_ok;
    all_ok.set_mode(deadline::v1::FAN_OUT_MODE_ALL_OR_NOTHING);
    FetchAllRequest all_fails = all_ok;
    FetchAllRequest partial;
    partial.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
    for (int p = 0; p < 3; ++p) {
      *all_ok.add_panels() = Work(2, absl::Milliseconds(5));
      const WorkRequest panel = p == 2 ? Work(100, absl::Milliseconds(10))
                                       : Work(2, absl::Milliseconds(5));
      *all_fails.add_panels() = panel;
      *partial.add_panels() = panel;
    }
    const WorkRequest direct = Work(3, absl::Milliseconds(2));
    // A length-delimited field whose length runs past the end.
    const std::string garbage_bytes = "\x0a\xff\xff\xff\x0f\x01";
    absl::Time next = absl::Now();
    while (!stop.load()) {
      const absl::Time now = absl::Now();
      if (now < next) {
        absl::SleepFor(std::min(next - now, absl::Milliseconds(50)));
        continue;
      }
      next += absl::Seconds(gap(random));
      const int kind = pick(random);
      auto* record = new CallRecord;
      outstanding.fetch_add(1);
      auto done = [record, kind, &tally, &outstanding] {
        tally.Add(kind, record->code);
        delete record;
        outstanding.fetch_sub(1);
      };
      const absl::Duration none = absl::InfiniteDuration();
      switch (kind) {
        case kFetchOk:
          StartFetch(*front, ok_fetch, absl::Seconds(2), false, *record, done);
          break;
        case kFetchSpin:
          StartFetch(*front, spin_fetch, absl::Seconds(2), false, *record,
                     done);
          break;
        case kFetchNoDeadline:
          StartFetch(*front, ok_fetch, none, false, *record, done);
          break;
        case kFetchDeadline:
          StartFetch(*front, long_fetch, absl::Milliseconds(50), false, *record,
                     done);
          break;
        case kFetchCancel:
          StartFetch(*front, long_fetch, none, false, *record, done,
                     absl::Milliseconds(30));
          break;
        case kAllOk:
          StartFetchAll(*front, all_ok, absl::Seconds(2), false, *record, done);
          break;
        case kAllFails:
          StartFetchAll(*front, all_fails, absl::Milliseconds(100), false,
                        *record, done);
          break;
        case kPartial:
          StartFetchAll(*front, partial, absl::Milliseconds(100), true, *record,
                        done);
          break;
        case kWorkDirect:
          StartWork(*back, direct, absl::Seconds(2), *record, done);
          break;
        case kBadRequest:
          StartFetch(*front, bad_fetch, absl::Seconds(2), false, *record, done);
          break;
        case kGarbage: {
          struct Raw {
            grpc::ClientContext context;
            grpc::ByteBuffer request;
            grpc::ByteBuffer reply;
          };
          auto* raw = new Raw;
          grpc::Slice slice(garbage_bytes);
          raw->request = grpc::ByteBuffer(&slice, 1);
          raw->context.set_deadline(
              ToGrpcDeadline(absl::Now() + absl::Seconds(2)));
          generic.UnaryCall(&raw->context, "/deadline.v1.Frontend/Fetch", {},
                            &raw->request, &raw->reply,
                            [raw, record, done](grpc::Status status) {
                              record->code = status.error_code();
                              delete raw;
                              done();
                            });
          break;
        }
        default:
          break;
      }
    }
  });

  // Sampling, on this thread.
  bool died = false;
  for (absl::Time at = start + sample_every; at <= end; at += sample_every) {
    absl::SleepFor(at - absl::Now());
    const double minutes = absl::ToDoubleMinutes(absl::Now() - start);
    for (Watched* w : {&backend, &frontend}) {
      if (!w->server->Alive()) {
        w->died = died = true;
        continue;
      }
      w->samples.push_back(w->Read(minutes));
    }
    if (died) break;
    const Sample& b = backend.samples.back();
    const Sample& f = frontend.samples.back();
    std::fprintf(stderr,
                 "soak: %5.2f min  backend %.1f MB %d thr %d fds %lld in "
                 "flight  frontend %.1f MB %d thr %d fds %lld in flight\n",
                 minutes, b.rss_mb, b.threads, b.fds,
                 static_cast<long long>(b.in_flight), f.rss_mb, f.threads,
                 f.fds, static_cast<long long>(f.in_flight));
  }
  stop = true;
  unary.join();
  for (auto& t : streams) t.join();
  testing::WaitUntil([&] { return outstanding.load() == 0; },
                     absl::Seconds(30));
  // Settled: nothing in flight anywhere, then the resting figures again.
  for (Watched* w : {&backend, &frontend}) {
    if (w->died) continue;
    testing::WaitUntil(
        [&] { return w->server->Stats().calls_in_flight() == 0; },
        absl::Seconds(10));
  }
  absl::SleepFor(absl::Seconds(1));
  for (Watched* w : {&backend, &frontend}) {
    if (w->died) continue;
    w->end = w->Read(absl::ToDoubleMinutes(absl::Now() - start));
  }
  // The frontend first, as a deployment would stop them.
  for (Watched* w : {&frontend, &backend}) {
    if (!w->died) w->exit_status = w->server->Stop(absl::Seconds(10));
  }

  // The report.
  std::vector<std::string> failures;
  const double warmup_minutes = absl::ToDoubleMinutes(warmup);
  const double max_growth = absl::GetFlag(FLAGS_max_rss_growth_mb);
  std::string json = absl::StrFormat(
      "{\n  \"duration_s\": %.0f,\n  \"warmup_s\": %.0f,\n  \"rate\": %.0f",
      absl::ToDoubleSeconds(duration), absl::ToDoubleSeconds(warmup), rate);
  std::printf(
      "# Soak: %s at %.0f calls/s (+ 2 stream loops), growth after "
      "%s\n\n",
      absl::FormatDuration(duration).c_str(), rate,
      absl::FormatDuration(warmup).c_str());
  std::printf(
      "| server | at rest | after the warm-up | end (idle) | RSS "
      "slope after the warm-up | rise of the fitted line | "
      "calls_in_flight at the end | exit on SIGTERM |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (Watched* w : {&backend, &frontend}) {
    const Growth g = GrowthOf(w->samples, warmup_minutes);
    const Sample* at_warmup = nullptr;
    for (const Sample& s : w->samples) {
      if (s.minutes >= warmup_minutes) {
        at_warmup = &s;
        break;
      }
    }
    const auto fmt = [](const Sample& s) {
      return absl::StrFormat("%.1f MB, %d threads, %d fds", s.rss_mb, s.threads,
                             s.fds);
    };
    std::printf(
        "| %s | %s | %s | %s | %+.3f MB/min | %+.2f MB (min %.1f, "
        "max %.1f) | %lld | %s |\n",
        w->name.c_str(), fmt(w->rest).c_str(),
        at_warmup ? fmt(*at_warmup).c_str() : "-",
        w->died ? "DIED" : fmt(w->end).c_str(), g.slope_mb_per_min, g.rise_mb,
        g.min_mb, g.max_mb, static_cast<long long>(w->end.in_flight),
        w->exit_status.has_value() ? absl::StrCat(*w->exit_status).c_str()
                                   : "none");
    if (w->died) failures.push_back(absl::StrCat(w->name, " died"));
    if (!w->died && w->end.in_flight != 0) {
      failures.push_back(absl::StrCat(w->name, ": ", w->end.in_flight,
                                      " calls in flight at the end"));
    }
    // gRPC may keep an extra eventfd or two; a leak per call would be
    // thousands.
    if (!w->died && w->end.fds > w->rest.fds + 4) {
      failures.push_back(absl::StrCat(w->name, ": ", w->end.fds,
                                      " open files at the end, ", w->rest.fds,
                                      " at rest"));
    }
    if (g.rise_mb > max_growth) {
      failures.push_back(absl::StrFormat(
          "%s: RSS grew %.2f MB after the warm-up (the most allowed: %.1f)",
          w->name, g.rise_mb, max_growth));
    }
    if (!w->exit_status.has_value() || *w->exit_status != 0) {
      failures.push_back(absl::StrCat(w->name, " did not exit 0 on SIGTERM (",
                                      w->exit_status.has_value()
                                          ? absl::StrCat(*w->exit_status)
                                          : "still running",
                                      ")"));
    }
    absl::StrAppendFormat(
        &json,
        ",\n  \"%s\": {\"rest_rss_mb\": %.2f, \"end_rss_mb\": %.2f, "
        "\"slope_mb_per_min\": %.4f, \"rise_mb\": %.3f, \"rest_threads\": "
        "%d, \"end_threads\": %d, \"rest_fds\": %d, \"end_fds\": %d, "
        "\"end_in_flight\": %lld, \"samples\": [",
        w->name, w->rest.rss_mb, w->end.rss_mb, g.slope_mb_per_min, g.rise_mb,
        w->rest.threads, w->end.threads, w->rest.fds, w->end.fds,
        static_cast<long long>(w->end.in_flight));
    for (size_t i = 0; i < w->samples.size(); ++i) {
      const Sample& s = w->samples[i];
      absl::StrAppendFormat(&json, "%s[%.3f, %.2f, %d, %d]", i ? ", " : "",
                            s.minutes, s.rss_mb, s.threads, s.fds);
    }
    json += "]}";
  }
  std::printf(
      "\n| kind of call | calls | answers | expected |\n"
      "| --- | --- | --- | --- |\n");
  const auto counts = tally.Get();
  int64_t total = 0;
  json += ",\n  \"kinds\": {";
  for (int kind = 0; kind < kKinds; ++kind) {
    const Kind& k = Kinds()[kind];
    const auto it = counts.find(kind);
    int64_t calls = 0;
    int64_t expected = 0;
    std::vector<std::string> codes;
    if (it != counts.end()) {
      for (const auto& [code, n] : it->second) {
        calls += n;
        if (code == k.expected) expected = n;
        codes.push_back(absl::StrCat(
            absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), " ",
            n));
      }
    }
    total += calls;
    std::printf(
        "| %s | %lld | %s | %s |\n", k.name.c_str(),
        static_cast<long long>(calls), absl::StrJoin(codes, ", ").c_str(),
        absl::StatusCodeToString(static_cast<absl::StatusCode>(k.expected))
            .c_str());
    absl::StrAppendFormat(&json, "%s\"%s\": [%lld, %lld]", kind ? ", " : "",
                          k.name, static_cast<long long>(calls),
                          static_cast<long long>(expected));
    // Every kind ran, and (almost) every call of it got its answer: a
    // noisy machine may stall a generous deadline now and then.
    if (calls == 0) {
      failures.push_back(absl::StrCat("no call of kind \"", k.name, "\""));
    } else if (expected < 0.95 * calls) {
      failures.push_back(absl::StrCat(
          "kind \"", k.name, "\": only ", expected, " of ", calls, " answered ",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(k.expected))));
    }
  }
  json += "}";
  absl::StrAppendFormat(&json, ",\n  \"calls\": %lld,\n  \"failures\": %d\n}\n",
                        static_cast<long long>(total),
                        static_cast<int>(failures.size()));
  std::printf("\n%lld calls in all. ", static_cast<long long>(total));
  if (failures.empty()) {
    std::printf("Every check held.\n");
  } else {
    std::printf("FAILED:\n");
    for (const std::string& f : failures) std::printf("- %s\n", f.c_str());
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) std::ofstream(json_path) << json;
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace deadline::bench

int main(int argc, char** argv) {
  deadline::ParseFlagsOrExit(
      argc, argv,
      "soak: a frontend and a backend under a mix of every call kind for a "
      "long time; reports their growth and checks that nothing leaked.\n"
      "Usage: soak --bin_dir=DIR [--duration=10m] [--warmup=1m] [--rate=200]\n"
      "            [--sample_every=5s] [--max_rss_growth_mb=5] [--json=FILE]",
      {__FILE__});
  return deadline::bench::Run();
}

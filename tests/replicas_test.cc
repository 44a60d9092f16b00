// Replica sets: one --backend entry naming several replicas ("a+b+c"),
// balanced by gRPC's round_robin over the replicas whose health service says
// SERVING. With the real binaries as processes: the spread and the replica
// named in each trace; a draining replica avoided; a rolling restart under a
// steady load with no failed call, on loopback and across network
// namespaces; and a replica whose link is cut, avoided once keepalive
// notices.
//
// The steady load comes from this same binary run as a child process
// (`replicas_test --load_generator=TARGET`), so that it can run inside a
// test host: this process stays in the root namespace, which cannot reach
// the hosts' addresses. The child prints what it sees, one line each:
//   load ready
//   tick unix_ms=... calls=N ok=N failed=N replicas=ADDR=N,ADDR=N
//   failed start_unix_ms=... took_ms=... code=... replica=... message=...
//   summary calls=N ok=N failed=N seconds=S
// (replicas: calls answered OK by each, as the frontend's trace names it).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/signals.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/netns.h"
#include "tests/support/network_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;
using Host = TestNetwork::Host;

constexpr absl::string_view kLoadFlag = "--load_generator=";

// The steady load: this many calls in flight at all times, each 2 steps of
// 15 ms (30 ms of work, far below the replicas' 1 s --shutdown_grace), with
// an 800 ms deadline. (Not 1 s: above 1 s, gRPC sends timeouts in 10 ms
// units, rounded up, so the frontend would see up to 10 ms more than its
// caller has left, its 10 ms reserve gone, and the caller's own timer would
// fire first on a call that hangs.)
constexpr int kLoadWorkers = 4;
constexpr int kLoadSteps = 2;
constexpr absl::Duration kLoadStep = absl::Milliseconds(15);
constexpr absl::Duration kLoadDeadline = absl::Milliseconds(800);
constexpr absl::Duration kTickInterval = absl::Milliseconds(100);

// A replica's shutdown in the rolling restart: NOT_SERVING for the drain,
// while still serving (the frontend's health watch hears it within a
// millisecond or so and stops picking it), then calls in flight get the
// grace. The drain is what makes it lossless: with none, a call the
// frontend picked just before the news arrived reaches a server already
// shutting down and fails (CANCELLED, seen in 1 run of 3 here).
constexpr absl::Duration kDrain = absl::Milliseconds(300);
constexpr absl::Duration kGrace = absl::Seconds(1);

constexpr absl::Duration kStartTimeout = absl::Seconds(20);

// ---------------------------------------------------------------------
// The load generator: the child's side.

// The replica that served a Fetch, as the frontend's trace names it (it
// records ClientContext::peer() of its backend call); "" if none.
std::string ReplicaOf(const FetchOutcome& outcome) {
  if (!outcome.trace.has_value()) return "";
  for (const deadline::v1::HopTrace& hop : outcome.trace->hops()) {
    if (hop.hop() == "backend" && !hop.address().empty()) return hop.address();
  }
  return "";
}

// One Fetch of a 1 ms step through `stub`, expected OK; the replica that
// served it.
std::string FetchOnce(deadline::v1::Frontend::Stub& stub) {
  deadline::v1::FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  FetchCall call(stub, request, absl::Now() + absl::Seconds(5));
  const FetchOutcome& outcome = call.Wait();
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  return ReplicaOf(outcome);
}

// The replicas that served Fetches through `stub` until `replicas` of them
// had (at most 100 calls): the channel connects to them one by one, and
// calls go to the ready ones meanwhile.
std::set<std::string> FetchUntilEachServes(deadline::v1::Frontend::Stub& stub,
                                           size_t replicas) {
  std::set<std::string> seen;
  for (int i = 0; i < 100 && seen.size() < replicas; ++i) {
    seen.insert(FetchOnce(stub));
  }
  return seen;
}

// What the load generator has seen so far; prints as it goes.
class LoadCounters {
 public:
  void Add(const FetchOutcome& outcome) {
    const std::string replica = ReplicaOf(outcome);
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (first_start_ == absl::InfiniteFuture()) first_start_ = outcome.start;
    last_end_ = std::max(last_end_, outcome.start + outcome.elapsed);
    if (outcome.status.ok()) {
      ++ok_by_replica_[replica];
      if (++ok_ == 1) Print("load ready");
      return;
    }
    ++failed_;
    Print(absl::StrCat(
        "failed start_unix_ms=", absl::ToUnixMillis(outcome.start),
        " took_ms=", absl::ToInt64Milliseconds(outcome.elapsed),
        " code=", outcome.status.error_code(), " replica=", replica,
        " message=", outcome.status.error_message()));
  }

  void PrintTick() {
    absl::MutexLock lock(&mu_);
    Print(absl::StrCat("tick unix_ms=", absl::ToUnixMillis(absl::Now()),
                       " calls=", calls_, " ok=", ok_, " failed=", failed_,
                       " replicas=", Replicas()));
  }

  void PrintSummary() {
    absl::MutexLock lock(&mu_);
    Print(absl::StrFormat(
        "summary calls=%d ok=%d failed=%d seconds=%.3f replicas=%s", calls_,
        ok_, failed_,
        calls_ == 0 ? 0.0 : absl::ToDoubleSeconds(last_end_ - first_start_),
        Replicas()));
  }

 private:
  std::string Replicas() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::StrJoin(ok_by_replica_, ",", absl::PairFormatter("="));
  }
  static void Print(const std::string& line) {
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fflush(stdout);
  }

  absl::Mutex mu_;
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t ok_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> ok_by_replica_ ABSL_GUARDED_BY(mu_);
  absl::Time first_start_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time last_end_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Runs kLoadWorkers callers of Frontend.Fetch at `target`, each starting a
// new call as soon as its last one ended, until SIGTERM or SIGINT; then
// prints the summary and returns 0.
int RunLoadGenerator(const std::string& target) {
  BlockTerminationSignals();  // Before gRPC starts threads.
  auto stub = deadline::v1::Frontend::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  LoadCounters counters;
  absl::Notification stop;
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoadWorkers; ++i) {
    threads.emplace_back([&] {
      while (!stop.HasBeenNotified()) {
        deadline::v1::FetchRequest request;
        *request.mutable_work() = Work(kLoadSteps, kLoadStep);
        FetchCall call(*stub, request, absl::Now() + kLoadDeadline);
        counters.Add(call.Wait());
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.WaitForNotificationWithTimeout(kTickInterval)) {
      counters.PrintTick();
    }
  });
  WaitForTerminationSignal();
  stop.Notify();
  for (std::thread& thread : threads) thread.join();
  counters.PrintSummary();
  return 0;
}

// ---------------------------------------------------------------------
// The load generator: the test's side.

// "key=value" fields of a line, after its first word; `last` takes the rest
// of the line as its value (it may hold spaces).
std::map<std::string, std::string> Fields(absl::string_view line,
                                          absl::string_view last = "") {
  std::map<std::string, std::string> fields;
  std::string rest;
  if (!last.empty()) {
    const size_t at = line.find(absl::StrCat(" ", last, "="));
    if (at != absl::string_view::npos) {
      fields[std::string(last)] =
          std::string(line.substr(at + last.size() + 2));
      line = line.substr(0, at);
    }
  }
  for (absl::string_view field :
       absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
    const size_t equals = field.find('=');
    if (equals == absl::string_view::npos) continue;
    fields[std::string(field.substr(0, equals))] =
        std::string(field.substr(equals + 1));
  }
  return fields;
}

int64_t Int(const std::map<std::string, std::string>& fields,
            const std::string& key) {
  int64_t value = -1;
  const auto it = fields.find(key);
  if (it == fields.end() || !absl::SimpleAtoi(it->second, &value)) return -1;
  return value;
}

// "ADDR=N,ADDR=N" (an address holds a ':' but no '=').
std::map<std::string, int64_t> Replicas(absl::string_view text) {
  std::map<std::string, int64_t> replicas;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t equals = entry.rfind('=');
    int64_t count = 0;
    if (equals != absl::string_view::npos &&
        absl::SimpleAtoi(entry.substr(equals + 1), &count)) {
      replicas[std::string(entry.substr(0, equals))] = count;
    }
  }
  return replicas;
}

struct LoadTick {
  absl::Time at;
  int64_t calls = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> ok_by_replica;

  int64_t OkFrom(const std::string& replica) const {
    const auto it = ok_by_replica.find(replica);
    return it == ok_by_replica.end() ? 0 : it->second;
  }
};

struct LoadFailure {
  absl::Time start;
  absl::Duration took;
  std::string line;
  std::string replica;
};

struct LoadResult {
  int64_t calls = -1;
  int64_t ok = -1;
  int64_t failed = -1;
  double seconds = 0;
  std::map<std::string, int64_t> ok_by_replica;
  std::vector<LoadFailure> failures;
  std::string output;
};

// The child process: started by Start(), read by the test.
class LoadGenerator {
 public:
  // Runs the load against the frontend at `target`, inside `host` when it
  // is set; nullptr if it did not start or no call succeeded within 20 s.
  static std::unique_ptr<LoadGenerator> Start(const Host* host,
                                              const std::string& target) {
    std::vector<std::string> argv = {SelfPath(),
                                     absl::StrCat(kLoadFlag, target)};
    auto process = Subprocess::Start(host ? host->Command(argv) : argv);
    if (process == nullptr) return nullptr;
    std::unique_ptr<LoadGenerator> load(new LoadGenerator(std::move(process)));
    if (!load->process_->WaitForLine("load ready", kStartTimeout)) {
      ADD_FAILURE() << "the load generator did not start: "
                    << load->process_->output();
      return nullptr;
    }
    return load;
  }

  // Reads ticks, from the first not read yet, until one satisfies `done`
  // (returned), or `timeout` passes.
  absl::optional<LoadTick> WaitForTick(
      const std::function<bool(const LoadTick&)>& done,
      absl::Duration timeout = kStartTimeout) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      const absl::optional<std::string> line =
          process_->WaitForLine("tick unix_ms=", end - absl::Now());
      if (!line.has_value()) break;
      const std::map<std::string, std::string> fields = Fields(*line);
      LoadTick tick;
      tick.at = absl::FromUnixMillis(Int(fields, "unix_ms"));
      tick.calls = Int(fields, "calls");
      tick.ok = Int(fields, "ok");
      tick.failed = Int(fields, "failed");
      const auto replicas = fields.find("replicas");
      if (replicas != fields.end()) {
        tick.ok_by_replica = Replicas(replicas->second);
      }
      if (done(tick)) return tick;
    }
    return absl::nullopt;
  }

  // The first tick taken at `at` or later.
  absl::optional<LoadTick> TickAt(absl::Time at) {
    return WaitForTick([at](const LoadTick& tick) { return tick.at >= at; },
                       at - absl::Now() + kStartTimeout);
  }

  // Stops the load (SIGTERM), and returns what it saw.
  LoadResult Stop() {
    LoadResult result;
    process_->Signal(SIGTERM);
    const absl::optional<int> status = process_->Wait(kStartTimeout);
    EXPECT_EQ(status, 0) << "the load generator did not stop cleanly";
    result.output = process_->output();
    for (absl::string_view line :
         absl::StrSplit(result.output, '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "failed ")) {
        const std::map<std::string, std::string> fields =
            Fields(line, "message");
        result.failures.push_back(
            {absl::FromUnixMillis(Int(fields, "start_unix_ms")),
             absl::Milliseconds(Int(fields, "took_ms")), std::string(line),
             fields.count("replica") ? fields.at("replica") : ""});
      } else if (absl::StartsWith(line, "summary ")) {
        const std::map<std::string, std::string> fields = Fields(line);
        result.calls = Int(fields, "calls");
        result.ok = Int(fields, "ok");
        result.failed = Int(fields, "failed");
        double seconds = 0;
        if (fields.count("seconds") &&
            absl::SimpleAtod(fields.at("seconds"), &seconds)) {
          result.seconds = seconds;
        }
        if (fields.count("replicas")) {
          result.ok_by_replica = Replicas(fields.at("replicas"));
        }
      }
    }
    EXPECT_GE(result.calls, 0) << "no summary from the load generator:\n"
                               << result.output;
    return result;
  }

 private:
  explicit LoadGenerator(std::unique_ptr<Subprocess> process)
      : process_(std::move(process)) {}

  // This test binary (the child runs it again, maybe in another namespace,
  // where /proc/self/exe would name `ip`).
  static std::string SelfPath() {
    char path[4096];
    const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    return n > 0 ? std::string(path, static_cast<size_t>(n)) : "";
  }

  std::unique_ptr<Subprocess> process_;
};

std::string FailureLines(const LoadResult& result) {
  std::string lines;
  for (const LoadFailure& failure : result.failures) {
    absl::StrAppend(&lines, failure.line, "\n");
  }
  return lines;
}

// ---------------------------------------------------------------------
// Helpers for the tests.

// grpc.health.v1.Health/Check of the whole server at `address`: 1 SERVING,
// 2 NOT_SERVING, -1 when the call failed.
int HealthOf(const std::string& address) {
  grpc::GenericStub stub(ChannelTo(address));
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  grpc::Slice empty("");  // HealthCheckRequest{service: ""}
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  std::vector<grpc::Slice> slices;
  if (!status.ok() || !response.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse{status = N}: field 1, a varint.
  return bytes.size() == 2 && bytes[0] == '\x08' ? bytes[1] : -1;
}

class ReplicasTest : public NetworkFixture {
 protected:
  // Starts `binary` with `flags`, listening on `listen` (HOST:PORT; port 0
  // picks one), inside `host` when it is set.
  static std::unique_ptr<Subprocess> StartServer(const Host* host,
                                                 absl::string_view binary,
                                                 std::vector<std::string> flags,
                                                 absl::string_view listen,
                                                 std::string* address) {
    flags.insert(flags.begin(), RunfilePath(binary));
    return StartServerProcess(host ? host->Command(std::move(flags)) : flags,
                              address, listen);
  }

  // Calls answered OK by the server at `address`, by its Stats, asked from
  // `from` (a host; this process when null); -1 when it did not answer.
  static int64_t CallsOkAt(const Host* from, const std::string& address) {
    if (from == nullptr) return FetchStats(address).calls_ok();
    auto client = Subprocess::Start(
        from->Command({RunfilePath("client/client"), "--stats",
                       absl::StrCat("--target=", address)}));
    if (client == nullptr || client->Wait(kStartTimeout) != 0) return -1;
    // "started N, ok N, ..."
    const std::string& output = client->output();
    const size_t at = output.find(", ok ");
    int64_t ok = -1;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(
            output.substr(at + 5, output.find(',', at + 5) - at - 5), &ok)) {
      return -1;
    }
    return ok;
  }

  // Three replicas (in `replica_hosts`, or on loopback when empty), a
  // frontend over them as one replica set (in `frontend_host`), and the
  // load (in `load_host`). Each replica in turn gets SIGTERM, exits, and is
  // started again on its address, and the next one waits until the new
  // process has answered calls. Returns what the load saw, from its first
  // call to its last.
  LoadResult RollingRestart(std::vector<const Host*> replica_hosts,
                            const Host* frontend_host, const Host* load_host,
                            absl::string_view where) {
    if (replica_hosts.empty()) replica_hosts.assign(3, nullptr);
    const std::vector<std::string> replica_flags = {
        absl::StrCat("--shutdown_drain=", absl::FormatDuration(kDrain)),
        absl::StrCat("--shutdown_grace=", absl::FormatDuration(kGrace))};
    const auto any_port = [](const Host* host) {
      return absl::StrCat(host ? host->address() : "127.0.0.1", ":0");
    };
    std::vector<std::unique_ptr<Subprocess>> replicas;
    std::vector<std::string> addresses;
    for (const Host* host : replica_hosts) {
      std::string address;
      replicas.push_back(StartServer(host, "server/backend/backend",
                                     replica_flags, any_port(host), &address));
      if (replicas.back() == nullptr) {
        ADD_FAILURE() << "a replica did not start";
        return {};
      }
      addresses.push_back(address);
    }
    std::string frontend_address;
    auto frontend =
        StartServer(frontend_host, "server/frontend/frontend",
                    {absl::StrCat("--backend=", absl::StrJoin(addresses, "+"))},
                    any_port(frontend_host), &frontend_address);
    if (frontend == nullptr) {
      ADD_FAILURE() << "the frontend did not start";
      return {};
    }
    auto load = LoadGenerator::Start(load_host, frontend_address);
    if (load == nullptr) return {};
    // Every replica serves before the first restart.
    if (!load->WaitForTick([&](const LoadTick& tick) {
          return std::all_of(
              addresses.begin(), addresses.end(),
              [&](const std::string& a) { return tick.OkFrom(a) > 0; });
        })) {
      ADD_FAILURE() << "not every replica served";
      return load->Stop();
    }

    for (size_t i = 0; i < replicas.size(); ++i) {
      SCOPED_TRACE(absl::StrCat("replica ", addresses[i]));
      replicas[i]->Signal(SIGTERM);
      // It drains, finishes its calls, and exits well within drain + grace
      // (plus its start-up time on a busy machine).
      const absl::optional<int> status = replicas[i]->Wait(kStartTimeout);
      EXPECT_EQ(status, 0) << replicas[i]->output();
      EXPECT_FALSE(absl::StrContains(replicas[i]->output(), "code=CANCELLED"))
          << "the grace ended calls: " << replicas[i]->output();
      std::string address;
      replicas[i] = StartServer(replica_hosts[i], "server/backend/backend",
                                replica_flags, addresses[i], &address);
      if (replicas[i] == nullptr) {
        ADD_FAILURE() << "the replica did not start again on its address";
        break;
      }
      EXPECT_EQ(address, addresses[i]);
      // The frontend reconnects (its backoff after refused connections is
      // at most 2 s), the health check says SERVING, and round robin picks
      // the new process: its own counters show it.
      EXPECT_TRUE(
          WaitUntil([&] { return CallsOkAt(load_host, addresses[i]) > 0; },
                    absl::Seconds(15)))
          << "the restarted replica got no calls";
      // Keep the load's output read (a full pipe would stall it).
      load->TickAt(absl::Now());
    }
    // A little more load with all three back.
    load->TickAt(absl::Now() + absl::Milliseconds(500));
    LoadResult result = load->Stop();
    frontend->Signal(SIGTERM);
    EXPECT_EQ(frontend->Wait(kStartTimeout), 0) << frontend->output();
    for (auto& replica : replicas) {
      if (replica != nullptr) replica->Signal(SIGTERM);
    }
    std::printf(
        "rolling restart (%s): %lld calls, %lld failed, in %.1f s, 3 replicas "
        "restarted in turn (drain %s, grace %s; %d calls in flight of %s "
        "each, deadline %s)\n",
        std::string(where).c_str(), static_cast<long long>(result.calls),
        static_cast<long long>(result.failed), result.seconds,
        absl::FormatDuration(kDrain).c_str(),
        absl::FormatDuration(kGrace).c_str(), kLoadWorkers,
        absl::FormatDuration(kLoadSteps * kLoadStep).c_str(),
        absl::FormatDuration(kLoadDeadline).c_str());
    RecordProperty("calls", static_cast<int>(result.calls));
    RecordProperty("failed", static_cast<int>(result.failed));
    RecordProperty("seconds", absl::StrFormat("%.1f", result.seconds));
    return result;
  }
};

// (a) Round robin over a replica set.
TEST_F(ReplicasTest, CallsAreSpreadRoundRobinAndTheTraceNamesTheReplica) {
  std::vector<std::unique_ptr<Subprocess>> replicas;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    std::string address;
    replicas.push_back(StartServer(nullptr, "server/backend/backend", {},
                                   "127.0.0.1:0", &address));
    ASSERT_NE(replicas.back(), nullptr);
    addresses.push_back(address);
  }
  std::string frontend_address;
  auto frontend =
      StartServer(nullptr, "server/frontend/frontend",
                  {absl::StrCat("--backend=", absl::StrJoin(addresses, "+"))},
                  "127.0.0.1:0", &frontend_address);
  ASSERT_NE(frontend, nullptr);
  auto stub = deadline::v1::Frontend::NewStub(ChannelTo(frontend_address));

  ASSERT_THAT(FetchUntilEachServes(*stub, addresses.size()),
              UnorderedElementsAreArray(addresses));

  std::map<std::string, int64_t> before;
  for (const std::string& address : addresses) {
    before[address] = FetchStats(address).calls_ok();
  }
  constexpr int kCalls = 30;
  std::map<std::string, int> served;
  for (int i = 0; i < kCalls; ++i) ++served[FetchOnce(*stub)];
  ASSERT_THAT(served, Not(Contains(::testing::Key(""))))
      << "a trace named no replica";
  for (const std::string& address : addresses) {
    SCOPED_TRACE(address);
    // Round robin over three ready replicas: each gets every third call.
    EXPECT_GE(served[address], kCalls / 3 - 2);
    EXPECT_LE(served[address], kCalls / 3 + 2);
    // The trace named the process that did the work.
    EXPECT_EQ(FetchStats(address).calls_ok() - before[address],
              served[address]);
  }
  EXPECT_EQ(served.size(), 3u);
}

// (b) A replica that reports NOT_SERVING gets no new calls.
TEST_F(ReplicasTest, ADrainingReplicaGetsNoNewCallsWhileTheOthersDo) {
  std::vector<std::unique_ptr<Subprocess>> replicas;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    std::string address;
    // The middle one drains for long: up and serving, but NOT_SERVING.
    replicas.push_back(
        StartServer(nullptr, "server/backend/backend",
                    {i == 1 ? "--shutdown_drain=5s" : "--shutdown_drain=0s"},
                    "127.0.0.1:0", &address));
    ASSERT_NE(replicas.back(), nullptr);
    addresses.push_back(address);
  }
  const std::string& draining = addresses[1];
  std::string frontend_address;
  auto frontend =
      StartServer(nullptr, "server/frontend/frontend",
                  {absl::StrCat("--backend=", absl::StrJoin(addresses, "+"))},
                  "127.0.0.1:0", &frontend_address);
  ASSERT_NE(frontend, nullptr);
  auto stub = deadline::v1::Frontend::NewStub(ChannelTo(frontend_address));
  ASSERT_THAT(FetchUntilEachServes(*stub, addresses.size()),
              UnorderedElementsAreArray(addresses));

  replicas[1]->Signal(SIGTERM);
  ASSERT_TRUE(
      replicas[1]->WaitForLine("shutting down", kStartTimeout).has_value());
  ASSERT_TRUE(WaitUntil([&] { return HealthOf(draining) == 2; }))
      << "the replica did not turn NOT_SERVING";
  const absl::Time drain_began = absl::Now();
  // The frontend hears it on its own health watch, a moment later: once
  // three calls in a row (a whole round of three replicas) avoided it,
  // round robin no longer has it.
  int in_a_row = 0;
  for (int i = 0; i < 30 && in_a_row < 3; ++i) {
    in_a_row = FetchOnce(*stub) == draining ? 0 : in_a_row + 1;
  }
  ASSERT_EQ(in_a_row, 3) << "the frontend kept picking the draining replica";

  const int64_t draining_before = FetchStats(draining).calls_started();
  constexpr int kCalls = 30;
  std::map<std::string, int> served;
  for (int i = 0; i < kCalls; ++i) ++served[FetchOnce(*stub)];
  EXPECT_EQ(served[draining], 0);
  EXPECT_GE(served[addresses[0]], kCalls / 2 - 2);
  EXPECT_GE(served[addresses[2]], kCalls / 2 - 2);
  // Still up and answering (its Stats), still in its drain: it was avoided,
  // not gone. Its counters agree that no call reached it.
  EXPECT_EQ(FetchStats(draining).calls_started(), draining_before);
  EXPECT_EQ(HealthOf(draining), 2);
  EXPECT_LT(absl::Now() - drain_began, absl::Seconds(5))
      << "too slow to tell: the drain may have ended meanwhile";
  EXPECT_FALSE(replicas[1]->Wait(absl::ZeroDuration()).has_value());
  // Then it shuts down and exits.
  EXPECT_EQ(replicas[1]->Wait(kStartTimeout), 0) << replicas[1]->output();
}

// (c) A rolling restart on loopback: not one call fails.
TEST_F(ReplicasTest, ARollingRestartFailsNoCall) {
  const LoadResult result = RollingRestart({}, nullptr, nullptr, "loopback");
  EXPECT_EQ(result.failed, 0) << FailureLines(result);
  EXPECT_EQ(result.ok, result.calls);
  // A steady load all along (~100 calls a second is expected here).
  EXPECT_GT(result.calls, 100) << result.output;
}

// (d) The same across real hops: every replica, the frontend and the load
// on hosts of their own.
TEST_F(ReplicasTest, ARollingRestartAcrossHostsFailsNoCall) {
  MakeNetwork();
  if (network_ == nullptr) return;  // Skipped or failed.
  const std::vector<Host> hosts =
      AddHosts({"replica1", "replica2", "replica3", "frontend", "load"});
  ASSERT_EQ(hosts.size(), 5u);
  const LoadResult result = RollingRestart(
      {&hosts[0], &hosts[1], &hosts[2]}, &hosts[3], &hosts[4], "across hosts");
  EXPECT_EQ(result.failed, 0) << FailureLines(result);
  EXPECT_EQ(result.ok, result.calls);
  EXPECT_GT(result.calls, 100) << result.output;
  for (const auto& [replica, ok] : result.ok_by_replica) {
    EXPECT_TRUE(absl::StartsWith(replica, "10.")) << replica;
  }
}

// (e) A replica whose link is cut. Its health watch says nothing (no
// NOT_SERVING arrives; the stream just goes silent), so round robin keeps
// picking it, and those calls hang until their deadline. The frontend's
// keepalive (--keepalive_time=1s, --keepalive_timeout=1s) pings the silent
// connection and drops it when no answer comes: the replica leaves the
// rotation within keepalive_time + keepalive_timeout of the cut. (Sooner,
// in practice: with keepalive on, gRPC also sets TCP_USER_TIMEOUT to the
// keepalive timeout, gRFC A18, so the kernel drops a connection whose
// written calls go unacknowledged for 1 s.) Meanwhile each caller can lose
// about one call per deadline to it.
TEST_F(ReplicasTest, AReplicaWhoseLinkIsCutIsAvoidedOnceKeepaliveNotices) {
  MakeNetwork();
  if (network_ == nullptr) return;
  const std::vector<Host> hosts =
      AddHosts({"replica1", "replica2", "replica3", "frontend", "load"});
  ASSERT_EQ(hosts.size(), 5u);
  const absl::Duration keepalive_time = absl::Seconds(1);
  const absl::Duration keepalive_timeout = absl::Seconds(1);
  const absl::Duration bound = keepalive_time + keepalive_timeout;

  std::vector<std::unique_ptr<Subprocess>> replicas;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    std::string address;
    // They accept the frontend's pings every second (a server pinged more
    // often than its --min_ping_interval, 5 s by default, may answer with
    // GOAWAY "too_many_pings").
    replicas.push_back(StartServer(
        &hosts[i], "server/backend/backend", {"--min_ping_interval=500ms"},
        absl::StrCat(hosts[i].address(), ":0"), &address));
    ASSERT_NE(replicas.back(), nullptr);
    addresses.push_back(address);
  }
  std::string frontend_address;
  auto frontend = StartServer(
      &hosts[3], "server/frontend/frontend",
      {absl::StrCat("--backend=", absl::StrJoin(addresses, "+")),
       absl::StrCat("--keepalive_time=", absl::FormatDuration(keepalive_time)),
       absl::StrCat("--keepalive_timeout=",
                    absl::FormatDuration(keepalive_timeout))},
      absl::StrCat(hosts[3].address(), ":0"), &frontend_address);
  ASSERT_NE(frontend, nullptr);
  auto load = LoadGenerator::Start(&hosts[4], frontend_address);
  ASSERT_NE(load, nullptr);
  ASSERT_TRUE(load->WaitForTick([&](const LoadTick& tick) {
    return tick.OkFrom(addresses[0]) > 0 && tick.OkFrom(addresses[1]) > 0 &&
           tick.OkFrom(addresses[2]) > 0;
  })) << "not every replica served";

  const std::string& cut = addresses[0];
  const absl::Time cut_at = absl::Now();
  ASSERT_TRUE(network_->CutLink(hosts[0]).ok());
  // Calls picked for the cut replica until the bound hang until their
  // deadline: from a deadline after the bound on, nothing fails; a few
  // seconds of load must show it.
  const absl::optional<LoadTick> settled =
      load->TickAt(cut_at + bound + kLoadDeadline + absl::Milliseconds(500));
  ASSERT_TRUE(settled.has_value());
  const absl::optional<LoadTick> at_end =
      load->TickAt(settled->at + absl::Seconds(3));
  ASSERT_TRUE(at_end.has_value());
  // The link comes back: so does the replica (the frontend reconnects,
  // its backoff at most 2 s apart).
  ASSERT_TRUE(network_->RestoreLink(hosts[0]).ok());
  const absl::optional<LoadTick> rejoined =
      load->WaitForTick([&](const LoadTick& tick) {
        return tick.OkFrom(cut) > at_end->OkFrom(cut);
      });
  const LoadResult result = load->Stop();
  EXPECT_TRUE(rejoined.has_value())
      << "the replica got no calls after its link came back";

  // Every failure was a call to the cut replica, in flight at the cut or
  // started within the bound (with a second of slack: timers, and the cut
  // itself is an `ip` command).
  absl::Duration last_failure_began = -absl::InfiniteDuration();
  absl::Duration last_failure_ended = -absl::InfiniteDuration();
  for (const LoadFailure& failure : result.failures) {
    // The frontend names the replica from ClientContext::peer(). A call
    // that hung on the cut link until its deadline names the whole target
    // instead ("a,b,c": gRPC 1.51 falls back to the channel's target when
    // the call learned no peer from the transport); one that the dropped
    // connection ended names the cut replica. Neither names a live one.
    EXPECT_NE(failure.replica, addresses[1]) << failure.line;
    EXPECT_NE(failure.replica, addresses[2]) << failure.line;
    EXPECT_THAT(failure.line, HasSubstr("message=frontend: ")) << failure.line;
    EXPECT_GE(failure.start, cut_at - kLoadDeadline) << failure.line;
    EXPECT_LT(failure.start, cut_at + bound + absl::Seconds(1)) << failure.line;
    last_failure_began = std::max(last_failure_began, failure.start - cut_at);
    last_failure_ended =
        std::max(last_failure_ended, failure.start + failure.took - cut_at);
  }
  // Some calls did fail: health checking alone did not notice the cut.
  EXPECT_GE(result.failed, 1);
  // At most one per caller per deadline within the bound, and one more each.
  const int64_t most = kLoadWorkers * (bound / kLoadDeadline + 2);
  EXPECT_LE(result.failed, most) << FailureLines(result) << frontend->output();
  // Once settled, the others serve on, the cut one gets nothing, and no
  // call fails.
  EXPECT_GT(at_end->OkFrom(addresses[1]), settled->OkFrom(addresses[1]));
  EXPECT_GT(at_end->OkFrom(addresses[2]), settled->OkFrom(addresses[2]));
  EXPECT_EQ(at_end->OkFrom(cut), settled->OkFrom(cut));
  EXPECT_EQ(at_end->failed, settled->failed) << FailureLines(result);

  std::printf(
      "cut link: %lld of %lld calls failed (at most %lld allowed), the last "
      "begun %s and ended %s after the cut; bound keepalive_time + "
      "keepalive_timeout = %s\n%s",
      static_cast<long long>(result.failed),
      static_cast<long long>(result.calls), static_cast<long long>(most),
      absl::FormatDuration(last_failure_began).c_str(),
      absl::FormatDuration(last_failure_ended).c_str(),
      absl::FormatDuration(bound).c_str(), FailureLines(result).c_str());
  RecordProperty("failed", static_cast<int>(result.failed));
  RecordProperty(
      "last_failure_began_ms",
      static_cast<int>(absl::ToInt64Milliseconds(last_failure_began)));
}

}  // namespace
}  // namespace deadline::testing

// The tests, or (with --load_generator=TARGET) the load they run.
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, deadline::testing::kLoadFlag)) {
      return deadline::testing::RunLoadGenerator(std::string(arg));
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

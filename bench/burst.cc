// burst: thousands of calls at once through the real frontend, from h2load
// (a client that is not this project's), with grpc-timeout alone and with
// the absolute deadline beside it.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/child_server.h"
#include "bench/h2load.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "common/deadline_at.h"
#include "common/time_util.h"
#include "proto/deadline.pb.h"
#include "server/deadline/budget.h"

namespace deadline::bench {
namespace {

struct BurstRun {
  int calls = 0;  // Answers h2load logged.
  int late = 0;   // Of them, after the client's deadline (and the skew).
  absl::Duration latest = -absl::InfiniteDuration();
  deadline::v1::StatsReply frontend;  // What the frontend counted.
  std::string error;
};

// `calls` at once (`connections` x `streams`), each asking for one step of
// `work`, with grpc-timeout `timeout`; with `absolute`, also deadline-at
// (the burst's start plus `timeout`, for every call: each call's own
// deadline is at least that) and deadline-sent-at (the start).
BurstRun Run(const Config& config, int connections, int streams,
             absl::Duration work, absl::Duration timeout, bool absolute,
             absl::Duration reserve) {
  BurstRun run;
  auto backend = ChildServer::Start(config.bin_dir, "server/backend/backend",
                                    {"--log=none"});
  auto frontend =
      backend == nullptr
          ? nullptr
          : ChildServer::Start(
                config.bin_dir, "server/frontend/frontend",
                {"--log=none", absl::StrCat("--backend=", backend->address()),
                 absl::StrCat("--reserve=", FormatBudget(reserve))});
  if (frontend == nullptr) {
    run.error = "a server did not start";
    return run;
  }
  deadline::v1::FetchRequest request;
  request.mutable_work()->set_steps(1);
  ToProtoDuration(work, request.mutable_work()->mutable_step_duration());
  const RequestFile body(request.SerializeAsString());
  const std::string log = absl::StrCat(body.path(), ".log");
  const int calls = connections * streams;
  const absl::Time start = absl::Now();
  std::vector<std::string> options = {
      "-n",
      absl::StrCat(calls),
      "-c",
      absl::StrCat(connections),
      "-m",
      absl::StrCat(streams),
      absl::StrCat("--log-file=", log),
      "-H",
      absl::StrCat("grpc-timeout: ", absl::ToInt64Milliseconds(timeout), "m")};
  if (absolute) {
    options.insert(
        options.end(),
        {"-H",
         absl::StrCat(kDeadlineAtKey, ": ", FormatUnixMicros(start + timeout)),
         "-H",
         absl::StrCat(kDeadlineSentAtKey, ": ", FormatUnixMicros(start))});
  }
  const H2loadResult result =
      RunH2load(config.h2load, body.path(),
                absl::StrCat("http://", frontend->address(),
                             "/deadline.v1.Frontend/Fetch"),
                options, absl::Minutes(2));
  if (!result.error.empty()) {
    run.error = result.error;
    return run;
  }
  // The client's deadline for each call: its own start plus the timeout;
  // with deadline-at, the burst's start plus the timeout, plus the skew the
  // hops allow (the default --clock_skew).
  const absl::Duration skew =
      absolute ? BudgetOptions().clock_skew : absl::ZeroDuration();
  for (const H2loadCall& call : ReadH2loadLog(log)) {
    ++run.calls;
    const absl::Time deadline = (absolute ? start : call.start) + timeout;
    const absl::Duration late = call.start + call.elapsed - deadline;
    if (late > skew) ++run.late;
    run.latest = std::max(run.latest, late);
  }
  std::remove(log.c_str());
  WaitIdle(*frontend, absl::Seconds(10));
  run.frontend = frontend->Stats();
  return run;
}

}  // namespace

Section Burst(const Config& config) {
  Section section("burst",
                  "A burst through the frontend: relative and absolute "
                  "deadlines (h2load)");
  if (SkippedWithoutBinaries(config, section, "burst")) return section;
  if (config.h2load.empty()) {
    section.rows.push_back(Info("burst", "skipped (no h2load)"));
    return section;
  }
  const int connections = config.quick ? 4 : 60;
  const int streams = config.quick ? 10 : 100;
  const absl::Duration work =
      config.quick ? absl::Milliseconds(20) : absl::Seconds(1);
  const absl::Duration timeout =
      config.quick ? absl::Milliseconds(500) : absl::Seconds(2);
  const std::string what = absl::StrFormat(
      "%d calls at once (%d connections x %d streams), %s of work, "
      "grpc-timeout %s",
      connections * streams, connections, streams, FormatBudget(work),
      FormatBudget(timeout));
  section.rows.push_back(Info("setup", what));
  struct Variant {
    std::string key;
    std::string label;
    bool absolute;
    absl::Duration reserve;
  };
  const absl::Duration default_reserve = BudgetOptions().reserve;
  const absl::Duration herd_reserve =
      config.quick ? default_reserve : absl::Milliseconds(100);
  const std::vector<Variant> variants = {
      {"relative", "grpc-timeout alone (the old figure)", false,
       default_reserve},
      {"absolute", "with deadline-at and deadline-sent-at", true,
       default_reserve},
      {"absolute_herd_reserve",
       absl::StrCat("with deadline-at, and the frontend's --reserve=",
                    FormatBudget(herd_reserve)),
       true, herd_reserve},
  };
  for (const Variant& variant : variants) {
    const BurstRun run = Run(config, connections, streams, work, timeout,
                             variant.absolute, variant.reserve);
    if (!run.error.empty()) {
      section.rows.push_back(Info(variant.label, run.error));
      continue;
    }
    const std::string latest =
        run.latest > absl::ZeroDuration()
            ? absl::StrCat(FormatBudget(run.latest), " after")
            : absl::StrCat(FormatBudget(-run.latest), " before");
    const std::string counts = absl::StrFormat(
        "%d of %d answers (the latest %s the deadline); the frontend "
        "counted OK %d, DEADLINE_EXCEEDED %d, arrived late %d",
        run.late, run.calls, latest, run.frontend.calls_ok(),
        run.frontend.calls_deadline_exceeded(),
        run.frontend.calls_arrived_late());
    const std::string metric =
        absl::StrCat(variant.label, ": answers after the client's deadline",
                     variant.absolute ? " plus the allowed skew" : "");
    if (variant.absolute) {
      section.rows.push_back(AtMost(metric, run.late, 0, counts, "0"));
    } else {
      section.rows.push_back(Info(metric, counts));
    }
    section.figures[variant.key + ".late"] = run.late;
    section.figures[variant.key + ".calls"] = run.calls;
    section.figures[variant.key + ".frontend_ok"] =
        static_cast<double>(run.frontend.calls_ok());
  }
  section.analysis =
      "h2load sends the calls as fast as it can; the frontend reads them "
      "over some tens of milliseconds, and its one connection to the "
      "backend holds at most --max_streams (5100) of them at once, so the "
      "rest wait about a second for a stream inside the frontend. "
      "grpc-timeout starts counting only when a hop reads a call: alone, it "
      "cannot see that wait, the backend finishes those calls' work after "
      "the client has given up, and the frontend counts them OK. With "
      "deadline-at every hop plans from the client's own deadline, so the "
      "backend stops those calls before it, and the frontend answers them "
      "DEADLINE_EXCEEDED. They stop together, though: h2load sends one "
      "deadline-at for every call, so hundreds of answers leave at the same "
      "moment, and on two cores shared with h2load answering them takes "
      "tens of milliseconds, more than the default 10ms reserve. The "
      "reserve is the time a hop keeps to answer after its callee stops; a "
      "service that expects herds of this size sizes it to them (third "
      "row), and every call pays that much budget.";
  return section;
}

}  // namespace deadline::bench

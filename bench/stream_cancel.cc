#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/distribution.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"
#include "common/time_util.h"

namespace deadline::bench {
namespace {

constexpr int kRead = 3;  // Messages read before the cancel.

// Cancels `calls` streams after kRead messages each, made by
// `start(request_id)`, and collects the time from each cancel to the end of
// the backend's stream.
// Request ids are `id_prefix` and a number: the backend's trace of each
// call is found by it.
template <typename Start>
Distribution Measure(const std::string& name, const std::string& id_prefix,
                     int calls, Servers& servers, const Start& start) {
  Distribution d(name);
  for (int i = 0; i < calls; ++i) {
    const std::string id = absl::StrCat(id_prefix, i);
    const auto call = start(id);
    absl::Time cancelled;
    int read = 0;
    // Read cancels right after the last message it reads.
    call->Read(kRead, [&](const deadline::v1::WorkProgress&) {
      if (++read == kRead) cancelled = absl::Now();
    });
    const auto hop = servers.BackendHop(id, absl::Seconds(5));
    if (!hop.has_value() || read != kRead) continue;
    d.Add(FromProtoTime(hop->finished_at()) - cancelled);
  }
  return d;
}

}  // namespace

Section StreamCancel(const Config& config) {
  Section section{"stream_cancel",
                  "Stream cancel (a client cancels Frontend.FetchStream after "
                  "3 messages: to the end of the backend's stream)"};
  Servers servers(QuietBackend(), QuietFrontend());
  const int calls = config.quick ? 3 : 200;
  const absl::Time deadline = absl::Now() + absl::Hours(1);

  const auto through_frontend = [&](bool spin) {
    return [&servers, spin, deadline](const std::string& id) {
      return std::make_unique<FetchStreamCall>(
          servers.frontend(), FetchOf(Work(100, absl::Milliseconds(10), spin)),
          deadline, id);
    };
  };
  const Distribution sleep =
      Measure("FetchStream cancel, sleep-like", "fetch-sleep-", calls, servers,
              through_frontend(false));
  const Distribution spin =
      Measure("FetchStream cancel, CPU-bound", "fetch-spin-", calls, servers,
              through_frontend(true));
  const Distribution direct = Measure(
      "WorkStream cancel (no frontend), sleep-like", "work-sleep-", calls,
      servers, [&servers, deadline](const std::string& id) {
        return std::make_unique<WorkStreamCall>(
            servers.backend(), Work(100, absl::Milliseconds(10)), deadline, id);
      });

  const Summary s = sleep.Summarize();
  const Summary c = spin.Summarize();
  const Summary b = direct.Summarize();
  section.rows = {
      AtMost("FetchStream cancel to backend stream end, sleep-like, p50", s.p50,
             2000, Ms(s.p50), "<= 2 ms"),
      AtMost("FetchStream cancel to backend stream end, sleep-like, p99", s.p99,
             5000, Ms(s.p99), "<= 5 ms"),
      Info("FetchStream cancel to backend stream end, CPU-bound, p50",
           Ms(c.p50)),
      AtMost("FetchStream cancel to backend stream end, CPU-bound, p99", c.p99,
             10000, Ms(c.p99), "<= 10 ms"),
      Info("WorkStream cancel (client to backend, no frontend), p50 / p99",
           absl::StrCat(Ms(b.p50), " / ", Ms(b.p99))),
      Info("FetchStream / WorkStream cancel, sleep-like, p50",
           X(b.p50 > 0 ? s.p50 / b.p50 : 0)),
      Info(sleep.name(), Spread(s)),
      Info(spin.name(), Spread(c)),
      Info(direct.name(), Spread(b)),
  };
  AddFigures(section, "fetch_stream_sleep", s);
  AddFigures(section, "fetch_stream_spin", c);
  AddFigures(section, "work_stream_sleep", b);
  section.distributions = {sleep, spin, direct};
  section.analysis =
      "The client's cancel is an RST_STREAM to the frontend; gRPC cancels the "
      "backend stream, whose context derives from the caller's, in the same "
      "step, and a second RST_STREAM reaches the backend. Its callback "
      "reactor ends a sleeping stream from OnCancel at once, and a CPU-bound "
      "one at the loop's next check (every 0.5 ms). The direct WorkStream "
      "row is the same cancel without the frontend: the ratio is what the "
      "middle hop adds. Servers and client share this process: CPU-bound "
      "streams spin on the workers while the network threads wait for a "
      "core, and other load on the machine shows in the p99s (a run with "
      "a load average of ~5 from other work saw p99s of 15 ms sleep-like and "
      "180 ms CPU-bound).";
  return section;
}

}  // namespace deadline::bench

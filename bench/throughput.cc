#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/h2load.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "tests/support/proc_stats.h"

namespace deadline::bench {

Section Throughput(const Config& config) {
  Section section{"throughput", "Throughput (saturated, closed loop)"};
  Servers servers(QuietBackend(), QuietFrontend());
  const absl::Duration run =
      config.quick ? absl::Milliseconds(200) : absl::Seconds(3);
  const deadline::v1::WorkRequest nothing = Work(0, absl::ZeroDuration());
  const deadline::v1::FetchRequest fetch = FetchOf(nothing);

  const auto direct = AsyncCalls<deadline::v1::WorkReply>(
      kGenerous,
      [&](grpc::ClientContext* context, deadline::v1::WorkReply* reply,
          std::function<void(grpc::Status)> done) {
        servers.backend().async()->Work(context, &nothing, reply,
                                        std::move(done));
      });
  const auto chain = AsyncCalls<deadline::v1::FetchReply>(
      kGenerous,
      [&](grpc::ClientContext* context, deadline::v1::FetchReply* reply,
          std::function<void(grpc::Status)> done) {
        servers.frontend().async()->Fetch(context, &fetch, reply,
                                          std::move(done));
      });
  ClosedLoopRate(8, run / 3, chain);  // Warm-up.
  double direct_32 = 0;
  double chain_32 = 0;
  double cpu_cores = 0;
  for (int in_flight : {1, 8, 32}) {
    const double d = ClosedLoopRate(in_flight, run, direct);
    const double cpu_before = testing::OwnCpuSeconds();
    const absl::Time start = absl::Now();
    const double c = ClosedLoopRate(in_flight, run, chain);
    const double cores = (testing::OwnCpuSeconds() - cpu_before) /
                         absl::ToDoubleSeconds(absl::Now() - start);
    section.rows.push_back(Info(
        absl::StrCat(in_flight, " in flight: direct, chain (calls/s)"),
        absl::StrFormat("%.0f, %.0f (chain %s of direct; CPU %.2f of 2 cores)",
                        d, c, Pct(c / d), cores)));
    section.figures[absl::StrCat("direct_", in_flight, ".calls_per_s")] = d;
    section.figures[absl::StrCat("chain_", in_flight, ".calls_per_s")] = c;
    if (in_flight == 32) {
      direct_32 = d;
      chain_32 = c;
      cpu_cores = cores;
    }
  }
  // Context, no longer a floor: the cheaper the backend's hop, the lower
  // this ratio, so it penalised making the backend faster.
  section.rows.push_back(
      Info("chain / direct at 32 in flight (retired as a floor)",
           Pct(chain_32 / direct_32)));
  section.figures["chain_over_direct_32"] = chain_32 / direct_32;
  section.figures["cpu_cores_chain_32"] = cpu_cores;

  if (!config.h2load.empty()) {
    // An independent client for one figure: h2load driving Backend.Work
    // (an empty request: the 5-byte gRPC frame header alone).
    const RequestFile body;
    const int requests = config.quick ? 500 : 60000;
    const H2loadResult h2load =
        RunH2load(config.h2load, body.path(),
                  absl::StrCat("http://", servers.backend_address(),
                               "/deadline.v1.Backend/Work"),
                  {"-n", absl::StrCat(requests), "-c", "1", "-m", "32"},
                  absl::Minutes(2));
    const double rate = h2load.error.empty() ? h2load.requests_per_s : 0;
    section.rows.push_back(
        Info("h2load, Backend.Work at 32 in flight (calls/s)",
             rate > 0 ? absl::StrFormat("%.0f (this generator: %.0f, %s)", rate,
                                        direct_32, Pct(direct_32 / rate))
                      : "h2load failed"));
    section.figures["h2load_direct_32.calls_per_s"] = rate;
  } else {
    section.rows.push_back(
        Info("h2load cross-check", "skipped (nghttp2-client not installed)"));
  }
  section.analysis =
      "The load generator, the frontend and the backend share one process "
      "and two cores, so at 8 and 32 in flight the CPU is saturated (see the "
      "CPU column) and the figure is the machine's, not a server's limit. A "
      "chain does two calls' work per call, so about 50% of direct is its "
      "ceiling when both hops cost the same. The chain / direct ratio is "
      "shown for context and no longer held to a floor: it measures the "
      "backend's hop as much as the chain, and falls whenever the backend "
      "gets faster. The h2load figure, from a separate C client, shows "
      "whether this generator held the direct figure back.";
  return section;
}

}  // namespace deadline::bench

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/rows.h"
#include "bench/scenarios.h"
#include "client/calls.h"

namespace deadline::bench {

Section HopOverhead(const Config& config) {
  Section section{"hop_overhead", "Hop overhead (1 call in flight)"};
  Servers servers(QuietBackend(), QuietFrontend());
  const int warmup = config.quick ? 10 : 500;
  const int calls = config.quick ? 20 : 2000;
  const int repetitions = config.quick ? 1 : 3;
  Distribution bare("bare call (Stats.GetStats)");
  Distribution direct("Backend.Work, 0 steps");
  Distribution chain("Frontend.Fetch, 0 steps (two hops)");
  const deadline::v1::WorkRequest nothing = Work(0, absl::ZeroDuration());
  // Interleaved, so that noise spreads over all three.
  for (int rep = 0; rep < repetitions; ++rep) {
    for (int i = 0; i < warmup + calls; ++i) {
      const absl::Time deadline = absl::Now() + kGenerous;
      BareCall b(servers.bare(), deadline);
      const auto bare_elapsed = b.Wait().elapsed;
      WorkCall w(servers.backend(), nothing, deadline);
      const auto direct_elapsed = w.Wait().elapsed;
      FetchCall f(servers.frontend(), FetchOf(nothing), deadline);
      const auto chain_elapsed = f.Wait().elapsed;
      if (i < warmup) continue;
      bare.Add(bare_elapsed);
      direct.Add(direct_elapsed);
      chain.Add(chain_elapsed);
    }
  }
  const Summary b = bare.Summarize();
  const Summary d = direct.Summarize();
  const Summary c = chain.Summarize();
  section.rows = {
      Info(bare.name(), Spread(b)),
      Info(direct.name(), Spread(d)),
      Info(chain.name(), Spread(c)),
      Info("direct / bare, p50 and p99",
           absl::StrCat(X(d.p50 / b.p50), ", ", X(d.p99 / b.p99))),
      AtMost("chain / bare, p50", c.p50 / b.p50, 2.0, X(c.p50 / b.p50),
             "<= 2.0x"),
      AtMost("chain / bare, p99", c.p99 / b.p99, 2.5, X(c.p99 / b.p99),
             "<= 2.5x"),
  };
  AddFigures(section, "bare", b);
  AddFigures(section, "direct", d);
  AddFigures(section, "chain", c);
  section.figures["chain_over_bare.p50"] = c.p50 / b.p50;
  section.figures["chain_over_bare.p99"] = c.p99 / b.p99;
  section.distributions = {bare, direct, chain};
  section.analysis =
      "A chain is two calls, so 2x the bare call is its natural cost. The "
      "bare call is the cheapest there is (a callback handler that answers "
      "at once). The backend is a callback server too, and adds parsing "
      "the raw request, validating it, planning its budget and ending the "
      "call's record; the frontend adds the same, a child context and a "
      "thread hop between its server side and the async stub's completion "
      "(gRPC 1.51 runs client callbacks on its own threads). All servers "
      "and the client share this process and its two cores.";
  return section;
}

}  // namespace deadline::bench

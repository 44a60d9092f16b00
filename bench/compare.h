#ifndef DEADLINE_BENCH_COMPARE_H_
#define DEADLINE_BENCH_COMPARE_H_

#include "bench/benchmarks.h"

namespace deadline::bench {

// The chain_comparison benchmark: the project's chain (server/frontend/frontend ->
// server/backend/backend) against two chains of the same contract with no features,
// the smallest callback-API C++ chain (bench/bare_chain) and a plain grpc-go
// chain (bench/go_chain). Each chain runs as two processes of its own on
// free ports; h2load drives Frontend.Fetch with an empty request, at 1 call
// in flight (mean latency) and at 32 (answers per second), in rounds that
// take turns between the chains. Holds the project to >= 80% of the bare
// chain's rate and <= 1.15x its mean latency; the Go ratios are context.
//
// Needs config.bin_dir (server/backend/backend, server/frontend/frontend, bench/bare_chain);
// without config.h2load it only checks that every chain answers OK, and
// without config.go_chain it leaves the Go chain out, each time with a row
// saying so. It never aborts the run; all processes are gone when it returns.
Section ChainComparison(const Config& config);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_COMPARE_H_

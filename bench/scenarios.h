#ifndef DEADLINE_BENCH_SCENARIOS_H_
#define DEADLINE_BENCH_SCENARIOS_H_

// The benchmarks the bench binary runs, one function and one file each
// (bench/<id>.cc), in the order of the report. Each returns its Section,
// never aborts the run, and leaves no server or process behind. Those that
// run the real binaries need config.bin_dir, and without it return a
// Section whose one row says "skipped (no --bin_dir)".

#include "bench/section.h"

namespace deadline::bench {

// hop_overhead: a bare call, Backend.Work and Frontend.Fetch, 1 in flight,
// servers in this process.
Section HopOverhead(const Config& config);
// throughput: direct and chain calls per second in a closed loop at 1, 8
// and 32 in flight, and h2load's figure for Backend.Work (config.h2load).
Section Throughput(const Config& config);
// deadline_fidelity: when the client sees DEADLINE_EXCEEDED, and how early
// the chain answers with its reserves.
Section DeadlineFidelity(const Config& config);
// stop_latency: from the client's deadline or cancel to the end of the
// backend's loop, sleep-like and CPU-bound.
Section StopLatency(const Config& config);
// wasted_work: the backend's work after the client gave up, propagation
// on and off.
Section WastedWork(const Config& config);
// budget_accuracy: the backend's budget at arrival against what the
// frontend meant to forward.
Section BudgetAccuracy(const Config& config);
// checking_cost: IsCancelled() in each server API, each backend loop's
// check, and the CPU-bound throughput the checks cost.
Section CheckingCost(const Config& config);
// scale (real processes): held calls cancelled by the client, sleeping and
// CPU-bound, in each API; slow PARTIAL fan-outs.
Section Scale(const Config& config);

// chain_comparison: the project's chain (server/frontend/frontend ->
// server/backend/backend) against two chains of the same contract with no
// features, the smallest callback-API C++ chain (bench/bare_chain) and a
// plain grpc-go chain (bench/go_chain). Each chain runs as two processes of
// its own on free ports; h2load drives Frontend.Fetch with an empty
// request, at 1 call in flight (mean latency) and at 32 (answers per
// second), in rounds that take turns between the chains. Holds the project
// to >= 80% of the bare chain's rate and <= 1.15x its mean latency; the Go
// ratios are context.
//
// Needs config.bin_dir (server/backend/backend, server/frontend/frontend,
// bench/bare_chain); without config.h2load it only checks that every chain
// answers OK, and without config.go_chain it leaves the Go chain out, each
// time with a row saying so.
Section ChainComparison(const Config& config);

// flood: half-open streams and rapid reset against the real backend and
// frontend processes (`config.bin_dir`) with their default serving limits:
// RSS at rest and at most, ordinary calls meanwhile, the rapid-reset rate.
// Skipped (an Info row) without --bin_dir, python3 or python3-h2.
Section Flood(const Config& config);

// stream_cancel: how fast a client's cancel of a Frontend.FetchStream
// stops the backend's stream, from the moment the client cancels (after
// reading 3 messages) to the moment the backend's stream ended, as the
// backend's trace records it. Sleep-like and CPU-bound work, and, for
// comparison, a client cancelling Backend.WorkStream directly. The servers
// run in this process (callback-API backend).
Section StreamCancel(const Config& config);

// Under load, every server a real process of --bin_dir and this process
// the client, calls started at Poisson arrival times (OpenLoop).
//
// overload: open-loop arrivals up to 3x the chain's capacity, with sized
// limits and with the defaults.
Section Overload(const Config& config);
// partial: PARTIAL fan-outs at a steady rate, and where their time goes
// (the servers' call logs and the calls' traces).
Section Partial(const Config& config);
// hedging: a frontend over a fast and a 10x slower backend, hedging off
// and on.
Section Hedging(const Config& config);
// ignored_cancel: the work a backend does for callers that left, with
// propagation on, off, and a backend that ignores cancellation.
Section IgnoredCancel(const Config& config);
// burst: thousands of calls at once through the real frontend from h2load,
// grpc-timeout alone and with deadline-at beside it: how many answers
// reach the client after its deadline.
Section Burst(const Config& config);

// edge: the project's chain behind the edge proxy of deploy/edge/ (nginx,
// rendered by config.edge_render) against the same chain called directly,
// in one run (h2load: mean latency at 1 in flight, <= 1.3x; calls per
// second at 32, >= 60%; CPU per call of the frontend and of nginx); then
// half-open and rapid-reset floods against the proxy, each with fresh
// servers: the frontend's RSS (< 2x at rest) and ordinary clients through
// the proxy meanwhile (all OK), and rapid reset once more without the
// proxy's call rate limit, for context. Needs config.bin_dir, nginx and
// h2load (the comparison) or python3-h2 (the floods); skips with a row
// without them.
Section Edge(const Config& config);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_SCENARIOS_H_

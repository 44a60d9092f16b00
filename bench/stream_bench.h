#ifndef DEADLINE_BENCH_STREAM_BENCH_H_
#define DEADLINE_BENCH_STREAM_BENCH_H_

#include "bench/benchmarks.h"

namespace deadline::bench {

// The stream_cancel benchmark: how fast a client's cancel of a
// Frontend.FetchStream stops the backend's stream, from the moment the
// client cancels (after reading 3 messages) to the moment the backend's
// stream ended, as the backend's trace records it. Sleep-like and CPU-bound
// work, and, for comparison, a client cancelling Backend.WorkStream
// directly. The servers run in this process (callback-API backend).
Section StreamCancel(const Config& config);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_STREAM_BENCH_H_

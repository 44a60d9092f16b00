#ifndef DEADLINE_BENCH_H2LOAD_H_
#define DEADLINE_BENCH_H2LOAD_H_

// h2load (Debian's nghttp2-client), a load generator in C outside this
// process, driving unary gRPC calls with an empty request: an independent
// client for the throughput figures.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace deadline::bench {

// A file holding one empty request message, gRPC-framed (a zero
// compression flag and a zero 4-byte length): the body h2load sends for
// every call. The file is removed when this is destroyed.
class EmptyRequestFile {
 public:
  EmptyRequestFile();
  ~EmptyRequestFile();
  EmptyRequestFile(const EmptyRequestFile&) = delete;
  EmptyRequestFile& operator=(const EmptyRequestFile&) = delete;

  // Empty when the file could not be written.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct H2loadResult {
  double seconds = 0;         // The measured duration.
  double requests_per_s = 0;  // As h2load reports it (every answer).
  int64_t succeeded = 0;      // HTTP 2xx answers (gRPC errors too).
  double mean_us = std::numeric_limits<double>::quiet_NaN();  // Per call.
  std::string error;  // Set when the run failed.
};

// Runs h2load (the binary at `h2load`) against `url`
// ("http://HOST:PORT/package.Service/Method"), sending the body in
// `body_file` as a gRPC call, with `options` saying how much load (e.g.
// {"-c", "4", "-m", "8", "-D", "2000ms"}, or "-n" for a number of calls)
// and any headers besides content-type and te; waits up to `timeout` for
// it to end.
H2loadResult RunH2load(const std::string& h2load, const std::string& body_file,
                       const std::string& url,
                       const std::vector<std::string>& options,
                       absl::Duration timeout);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_H2LOAD_H_

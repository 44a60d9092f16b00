#ifndef DEADLINE_BENCH_H2LOAD_H_
#define DEADLINE_BENCH_H2LOAD_H_

// h2load (Debian's nghttp2-client), a load generator in C outside this
// process, driving unary gRPC calls with an empty request: an independent
// client for the throughput figures.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace deadline::bench {

// A file holding one request message, gRPC-framed (a zero compression flag
// and the 4-byte big-endian length, then the serialized `message`; empty by
// default): the body h2load sends for every call. The file is removed when
// this is destroyed.
class RequestFile {
 public:
  explicit RequestFile(absl::string_view message = "");
  ~RequestFile();
  RequestFile(const RequestFile&) = delete;
  RequestFile& operator=(const RequestFile&) = delete;

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
// One call as h2load's --log-file tells it: when it started (Unix
// microseconds), the HTTP status, and how long until its response ended.
struct H2loadCall {
  absl::Time start;
  int http_status = 0;
  absl::Duration elapsed;
};
// The calls in a --log-file (tab-separated: start in microseconds since the
// epoch, status, microseconds to the end); lines that do not parse are
// left out.
std::vector<H2loadCall> ReadH2loadLog(const std::string& path);

H2loadResult RunH2load(const std::string& h2load, const std::string& body_file,
                       const std::string& url,
                       const std::vector<std::string>& options,
                       absl::Duration timeout);

// RunH2load calling Frontend.Fetch at `address` (HOST:PORT) for
// `duration`, from `clients` connections with `streams` calls in flight on
// each, every call sending grpc-timeout `timeout` (the wire's form, "5S").
H2loadResult LoadFetch(const std::string& h2load, const std::string& body_file,
                       const std::string& address, int clients, int streams,
                       absl::Duration duration,
                       absl::string_view timeout = "5S");

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_H2LOAD_H_

#include "bench/h2load.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/optional.h"
#include "tests/support/subprocess.h"

namespace deadline::bench {
namespace {

// h2load's times ("2.00s", "300.75ms", "389us") in microseconds; NaN for
// anything else.
double H2loadMicros(absl::string_view text) {
  const std::pair<absl::string_view, double> units[] = {
      {"us", 1}, {"ms", 1e3}, {"s", 1e6}};
  for (const auto& [suffix, scale] : units) {
    absl::string_view number = text;
    double value = 0;
    if (absl::ConsumeSuffix(&number, suffix) &&
        absl::SimpleAtod(number, &value)) {
      return value * scale;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

RequestFile::RequestFile(absl::string_view message) {
  const char* tmp = getenv("TMPDIR");
  std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/bench-grpc-body-XXXXXX");
  const int fd = mkstemp(path.data());
  if (fd < 0) return;
  const uint32_t size = static_cast<uint32_t>(message.size());
  const char frame[5] = {0, static_cast<char>(size >> 24),
                         static_cast<char>(size >> 16),
                         static_cast<char>(size >> 8), static_cast<char>(size)};
  const bool written = write(fd, frame, sizeof(frame)) == sizeof(frame) &&
                       write(fd, message.data(), message.size()) ==
                           static_cast<ssize_t>(message.size());
  close(fd);
  if (!written) {
    unlink(path.c_str());
    return;
  }
  path_ = std::move(path);
}

RequestFile::~RequestFile() {
  if (!path_.empty()) unlink(path_.c_str());
}

std::vector<H2loadCall> ReadH2loadLog(const std::string& path) {
  std::vector<H2loadCall> calls;
  std::ifstream log(path);
  std::string line;
  while (std::getline(log, line)) {
    const std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
    int64_t start_us = 0, elapsed_us = 0;
    H2loadCall call;
    if (fields.size() < 3 || !absl::SimpleAtoi(fields[0], &start_us) ||
        !absl::SimpleAtoi(fields[1], &call.http_status) ||
        !absl::SimpleAtoi(fields[2], &elapsed_us)) {
      continue;
    }
    call.start = absl::FromUnixMicros(start_us);
    call.elapsed = absl::Microseconds(elapsed_us);
    calls.push_back(call);
  }
  return calls;
}

H2loadResult RunH2load(const std::string& h2load, const std::string& body_file,
                       const std::string& url,
                       const std::vector<std::string>& options,
                       absl::Duration timeout) {
  H2loadResult result;
  std::vector<std::string> argv = {h2load};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), {"-H", "content-type: application/grpc", "-H",
                           "te: trailers", "-d", body_file, url});
  auto process = testing::Subprocess::Start(argv);
  if (process == nullptr) {
    result.error = "h2load did not start";
    return result;
  }
  const absl::optional<int> status = process->Wait(timeout);
  if (status != 0) {
    result.error = status.has_value() ? absl::StrCat("h2load exited ", *status)
                                      : "h2load did not finish";
    return result;
  }
  // finished in 2.00s, 3134.00 req/s, 156.22KB/s
  // requests: 6268 total, 6269 started, 6268 done, 6268 succeeded, ...
  //                      min         max         mean         sd
  // time for request:      172us    102.02ms       308us      1.29ms
  for (absl::string_view line : absl::StrSplit(process->output(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "finished in ")) {
      const std::vector<absl::string_view> parts = absl::StrSplit(line, ", ");
      result.seconds = H2loadMicros(parts[0]) / 1e6;
      double per_second = 0;
      if (parts.size() > 1 &&
          absl::SimpleAtod(absl::StripSuffix(parts[1], " req/s"),
                           &per_second)) {
        result.requests_per_s = per_second;
      }
    } else if (absl::ConsumePrefix(&line, "requests: ")) {
      for (absl::string_view part : absl::StrSplit(line, ", ")) {
        int64_t succeeded = 0;
        if (absl::ConsumeSuffix(&part, " succeeded") &&
            absl::SimpleAtoi(part, &succeeded)) {
          result.succeeded = succeeded;
        }
      }
    } else if (absl::ConsumePrefix(&line, "time for request:")) {
      const std::vector<absl::string_view> cells =
          absl::StrSplit(line, ' ', absl::SkipWhitespace());
      if (cells.size() >= 3) result.mean_us = H2loadMicros(cells[2]);
    }
  }
  if (!(result.seconds > 0)) result.error = "h2load printed no duration";
  return result;
}

H2loadResult LoadFetch(const std::string& h2load, const std::string& body_file,
                       const std::string& address, int clients, int streams,
                       absl::Duration duration, absl::string_view timeout) {
  return RunH2load(
      h2load, body_file,
      absl::StrCat("http://", address, "/deadline.v1.Frontend/Fetch"),
      {"-D", absl::StrCat(absl::ToInt64Milliseconds(duration), "ms"), "-c",
       absl::StrCat(clients), "-m", absl::StrCat(streams), "-H",
       absl::StrCat("grpc-timeout: ", timeout)},
      duration + absl::Seconds(30));
}

}  // namespace deadline::bench

#include "tests/support/proc_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace deadline::testing {
namespace {

// The fields of /proc/PID/stat from the third (the state) on; empty when
// it cannot be read. The second field, the name in parentheses, may hold
// spaces, so the fields are counted from its closing parenthesis.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  const std::string stat((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  const size_t name_end = stat.rfind(") ");
  if (name_end == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(stat).substr(name_end + 2), ' ');
}

}  // namespace

double CpuSecondsOf(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  // utime and stime are the 14th and 15th fields.
  int64_t user = 0;
  int64_t system = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &user) ||
      !absl::SimpleAtoi(fields[12], &system)) {
    return NAN;
  }
  return static_cast<double>(user + system) / sysconf(_SC_CLK_TCK);
}

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double RunQueueWaitSecondsOf(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/task").c_str());
  if (dir == nullptr) return NAN;
  double total = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream file(
        absl::StrCat("/proc/", pid, "/task/", entry->d_name, "/schedstat"));
    double run = 0;
    double wait = 0;  // Nanoseconds.
    if (file >> run >> wait) total += wait;
  }
  closedir(dir);
  return total / 1e9;
}

int FdsOf(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  int fds = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++fds;
  }
  closedir(dir);
  return fds;
}

bool IsRunning(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  if (fields.empty() || fields[0].empty()) return false;
  const char state = fields[0][0];
  return state != 'Z' && state != 'X';
}

}  // namespace deadline::testing

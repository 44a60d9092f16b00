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

// The fields of DIR/stat (DIR: /proc/PID, or /proc/PID/task/TID for one
// thread) from the third (the state) on; empty when it cannot be read. The
// second field, the name in parentheses, may hold spaces, so the fields
// are counted from its closing parenthesis.
std::vector<std::string> StatFields(const std::string& dir) {
  std::ifstream file(absl::StrCat(dir, "/stat"));
  const std::string stat((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  const size_t name_end = stat.rfind(") ");
  if (name_end == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(stat).substr(name_end + 2), ' ');
}

std::vector<std::string> StatFields(pid_t pid) {
  return StatFields(absl::StrCat("/proc/", pid));
}

// The folders of process `pid`'s threads (/proc/PID/task/TID); empty when
// there is no such process.
std::vector<std::string> ThreadDirsOf(pid_t pid) {
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  std::vector<std::string> dirs;
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) return dirs;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') {
      dirs.push_back(absl::StrCat(tasks, "/", entry->d_name));
    }
  }
  closedir(dir);
  return dirs;
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

double CpuSecondsWithChildrenOf(pid_t pid) {
  double total = CpuSecondsOf(pid);
  for (const std::string& thread : ThreadDirsOf(pid)) {
    std::ifstream children(absl::StrCat(thread, "/children"));
    int child = 0;
    while (children >> child) total += CpuSecondsOf(child);
  }
  return total;
}

double RunQueueWaitSecondsOf(pid_t pid) {
  const std::vector<std::string> threads = ThreadDirsOf(pid);
  if (threads.empty()) return NAN;
  double total = 0;
  for (const std::string& thread : threads) {
    std::ifstream file(absl::StrCat(thread, "/schedstat"));
    double run = 0;
    double wait = 0;  // Nanoseconds.
    if (file >> run >> wait) total += wait;
  }
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

bool IsStopped(pid_t pid) {
  const std::vector<std::string> threads = ThreadDirsOf(pid);
  if (threads.empty()) return false;
  for (const std::string& thread : threads) {
    const std::vector<std::string> fields = StatFields(thread);
    if (fields.empty() || fields[0] != "T") return false;
  }
  return true;
}

}  // namespace deadline::testing

#include "tests/support/edge_proxy.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace deadline::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::StatusOr<std::string> MakeDir(const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base = tmp != nullptr ? tmp : "/tmp";
  }
  std::string pattern = absl::StrCat(base, "/edge-nginx-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot make ", pattern));
  }
  // nginx's workers run as nobody: they must reach what is in it.
  chmod(pattern.c_str(), 0755);
  return pattern;
}

}  // namespace

absl::Status EdgeProxy::Available(const std::string& nginx) {
  if (access(nginx.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(nginx, " not found: scripts/deps.sh installs nginx"));
  }
  auto probe = Subprocess::Start({nginx, "-v"});
  if (probe == nullptr || probe->Wait(absl::Seconds(20)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(nginx, " -v failed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EdgeProxy>> EdgeProxy::Start(
    const Options& options) {
  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<std::string> dir = MakeDir(options.parent_dir);
    if (!dir.ok()) return dir.status();
    const int port = FreePort();
    if (port == 0) return absl::UnavailableError("no free port");
    const std::string address = absl::StrCat(options.listen_host, ":", port);

    std::vector<std::string> render = {
        options.render_script, absl::StrCat("--listen=", address),
        absl::StrCat("--frontend=", options.frontend)};
    render.insert(render.end(), options.render_flags.begin(),
                  options.render_flags.end());
    auto renderer = Subprocess::Start(render);
    if (renderer == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot run ", options.render_script));
    }
    const absl::optional<int> rendered = renderer->Wait(absl::Seconds(20));
    if (rendered != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("render.sh failed: ", renderer->output()));
    }
    auto proxy = std::unique_ptr<EdgeProxy>(new EdgeProxy);
    proxy->dir_ = *dir;
    proxy->address_ = address;
    proxy->config_ = renderer->output();
    const std::string config_path = absl::StrCat(*dir, "/nginx.conf");
    {
      std::ofstream file(config_path);
      file << proxy->config_;
      if (!file) return absl::InternalError("cannot write nginx.conf");
    }
    std::vector<std::string> argv = {options.nginx, "-p",        *dir,
                                     "-c",          config_path, "-e",
                                     "stderr",      "-g",        "daemon off;"};
    if (options.wrap) argv = options.wrap(std::move(argv));
    proxy->process_ = Subprocess::Start(argv);
    if (proxy->process_ == nullptr) {
      return absl::InternalError(absl::StrCat("cannot run ", options.nginx));
    }
    const std::string error_log = absl::StrCat(*dir, "/error.log");
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up) {
      if (absl::StrContains(ReadFile(error_log), "start worker process")) {
        return proxy;
      }
      if (proxy->process_->Wait(absl::Milliseconds(20)).has_value()) break;
    }
    last_error = absl::StrCat(proxy->process_->output(), ReadFile(error_log));
    if (!absl::StrContains(last_error, "Address already in use")) break;
  }
  return absl::UnavailableError(
      absl::StrCat("nginx did not start: ", last_error));
}

EdgeProxy::~EdgeProxy() {
  if (process_ == nullptr) return;
  process_->Signal(SIGTERM);
  if (!process_->Wait(absl::Seconds(10)).has_value()) {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(10));
  }
}

absl::optional<std::string> EdgeProxy::WaitForAccessLine(
    absl::string_view needle, absl::Duration timeout) {
  const std::string path = absl::StrCat(dir_, "/access.log");
  const absl::Time give_up = absl::Now() + timeout;
  do {
    for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n')) {
      if (absl::StrContains(line, needle)) return std::string(line);
    }
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < give_up);
  return absl::nullopt;
}

std::string EdgeProxy::ErrorLog() const {
  return ReadFile(absl::StrCat(dir_, "/error.log"));
}

absl::optional<std::string> LogField(absl::string_view line,
                                     absl::string_view name) {
  const std::string key = absl::StrCat(name, "=");
  for (absl::string_view field : absl::StrSplit(line, ' ')) {
    if (absl::ConsumePrefix(&field, key)) return std::string(field);
  }
  return absl::nullopt;
}

}  // namespace deadline::testing

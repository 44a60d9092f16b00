#include "tests/support/process_chain.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace deadline::testing {

std::unique_ptr<Subprocess> StartOnLoopback(absl::string_view binary,
                                            std::vector<std::string> flags,
                                            std::string* address) {
  flags.insert(flags.begin(), std::string(binary));
  return StartServerProcess(std::move(flags), address);
}

absl::Status ProcessChain::Start(const ServerCommand& backend_command,
                                 ServerCommand frontend_command) {
  backend = backend_command.launch(backend_command.binary,
                                   backend_command.flags, &backend_address);
  if (backend == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(backend_command.binary, " did not start"));
  }
  frontend_command.flags.push_back(absl::StrCat("--backend=", backend_address));
  frontend = frontend_command.launch(frontend_command.binary,
                                     std::move(frontend_command.flags),
                                     &frontend_address);
  if (frontend == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(frontend_command.binary, " did not start"));
  }
  return absl::OkStatus();
}

}  // namespace deadline::testing

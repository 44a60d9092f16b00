#ifndef DEADLINE_TESTS_SUPPORT_PROCESS_CHAIN_H_
#define DEADLINE_TESTS_SUPPORT_PROCESS_CHAIN_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {

// Starts one server: `binary` with `flags`, which hold no --listen (the
// launcher decides where the server listens). Returns the process once it
// listens, with `address` set to its HOST:PORT, or null if it did not start.
// NetworkFixture::StartServerIn, bound to a host, is one.
using ServerLauncher = std::function<std::unique_ptr<Subprocess>(
    absl::string_view binary, std::vector<std::string> flags,
    std::string* address)>;

// The default launcher: `binary` is a path, and the server listens on
// 127.0.0.1, port 0 (StartServerProcess).
std::unique_ptr<Subprocess> StartOnLoopback(absl::string_view binary,
                                            std::vector<std::string> flags,
                                            std::string* address);

// One server of a chain: what to run, and how to start it.
struct ServerCommand {
  std::string binary;  // As `launch` takes it.
  std::vector<std::string> flags;
  ServerLauncher launch = StartOnLoopback;
};

// A backend and a frontend that calls it, each a server binary running as a
// process of its own: the project's two-hop chain as it is deployed, or a
// chain of the same contract (bench/bare_chain, bench/go_chain: a frontend
// that takes --backend=HOST:PORT and --listen=HOST:PORT).
//
// Start() starts the backend, then the frontend with
// --backend=<the backend's address> added to its flags. A null process is
// one that did not start; Start() stops at the first. The processes' output
// is read through them (Subprocess: read it now and then, or a server that
// logs much blocks on a full pipe). Destroying the chain kills the frontend,
// then the backend. Not thread-safe.
struct ProcessChain {
  // OK once both listen; otherwise UNAVAILABLE with the message "<binary>
  // did not start", naming the first that did not (the frontend stays null
  // if the backend did not start). Once per chain.
  absl::Status Start(const ServerCommand& backend_command,
                     ServerCommand frontend_command);

  std::unique_ptr<Subprocess> backend;
  std::unique_ptr<Subprocess> frontend;
  std::string backend_address;  // HOST:PORT, once started.
  std::string frontend_address;
};

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_PROCESS_CHAIN_H_

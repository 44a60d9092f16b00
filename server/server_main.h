#ifndef DEADLINE_SERVER_SERVER_MAIN_H_
#define DEADLINE_SERVER_SERVER_MAIN_H_

#include <functional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/impl/service_type.h"
#include "server/call_log.h"

namespace deadline {

// What both servers' main() share: process set-up, the flags --listen's
// companions --log, --shutdown_drain and --shutdown_grace (defined in
// server_main.cc), and serving until SIGINT or SIGTERM.

// Installs a crash handler that prints a stack trace, blocks SIGINT and
// SIGTERM for WaitForTerminationSignal(), and parses the flags defined in
// `main_file` (the main's __FILE__) and here; exits 2 on a bad flag.
void InitServerMain(int argc, char** argv, absl::string_view usage,
                    absl::string_view main_file);

// Process settings for serving, made by InitServerMain(); for servers with
// a main() of their own (benchmarks).
void TuneForServing();

// The shared flags, checked (exits 2 on a bad value).
struct ServingFlags {
  LogMode log = LogMode::kErrors;
  absl::Duration drain;
  absl::Duration grace;
};
ServingFlags ServingFlagsOrExit();

// Serves `services` on `listen` (with health and reflection), prints
// "<name> listening on HOST:PORT<detail>" to stdout, waits for SIGINT or
// SIGTERM, then stops gracefully, calling `before_stop` (if any) after the
// drain (see StopServer). Returns the process's exit status: 0, or 1 when
// `listen` cannot be bound.
int ServeUntilSignalled(absl::string_view name, absl::string_view listen,
                        const std::vector<grpc::Service*>& services,
                        const ServingFlags& flags, absl::string_view detail,
                        const std::function<void()>& before_stop = nullptr);

}  // namespace deadline

#endif  // DEADLINE_SERVER_SERVER_MAIN_H_

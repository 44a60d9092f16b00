#ifndef DEADLINE_SERVER_OBSERVABILITY_METRICS_ENDPOINT_H_
#define DEADLINE_SERVER_OBSERVABILITY_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"

namespace deadline {

// A running /metrics endpoint: prometheus-cpp's exposer (an HTTP server,
// civetweb, on threads of its own) serving one collectable, plus the
// exposer's own exposer_* metrics. Plain HTTP. Stops when destroyed.
class MetricsEndpoint {
 public:
  // Serves `metrics` at http://<listen>/metrics. `listen` is HOST:PORT with
  // an IPv4 address or a name (civetweb here takes no IPv6); port 0 picks a
  // free port. INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      absl::string_view listen,
      const std::shared_ptr<prometheus::Collectable>& metrics);
  ~MetricsEndpoint();

  // HOST:PORT, with the port as bound.
  const std::string& address() const { return address_; }

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer,
                  std::string address);
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

// OK when `listen` is a HOST:PORT that MetricsEndpoint::Start() takes;
// otherwise INVALID_ARGUMENT saying what is expected.
absl::Status ValidateMetricsListen(absl::string_view listen);

}  // namespace deadline

#endif  // DEADLINE_SERVER_OBSERVABILITY_METRICS_ENDPOINT_H_

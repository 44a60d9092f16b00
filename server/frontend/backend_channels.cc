#include "server/frontend/backend_channels.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace deadline {

const std::string kWorkMethod = "/deadline.v1.Backend/Work";
const std::string kRecordMethod = "/deadline.v1.Backend/Record";

namespace {

// "host:port" with a port in range and a host made of sane characters.
bool IsHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  const absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  int number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' ||
           c == '[' || c == ']' || c == ':';
  });
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(d));
}

}  // namespace

absl::StatusOr<std::vector<BackendTarget>> ParseBackends(
    const std::vector<std::string>& entries) {
  if (entries.empty()) {
    return absl::InvalidArgumentError("--backend needs at least one backend");
  }
  std::vector<BackendTarget> targets;
  for (const std::string& entry : entries) {
    BackendTarget target;
    target.name = entry;
    if (absl::StrContains(entry, ":///") || absl::StartsWith(entry, "ipv4:") ||
        absl::StartsWith(entry, "ipv6:") || absl::StartsWith(entry, "unix:")) {
      // A gRPC target: its resolver may yield several addresses.
      target.grpc_target = entry;
      target.replica_set = true;
    } else if (absl::StrContains(entry, '+')) {
      const std::vector<std::string> replicas = absl::StrSplit(entry, '+');
      for (const std::string& replica : replicas) {
        if (!IsHostPort(replica) || absl::StartsWith(replica, "[")) {
          return absl::InvalidArgumentError(
              absl::StrCat("--backend: replica '", replica, "' of '", entry,
                           "' is not an IPv4 host:port"));
        }
      }
      target.grpc_target = absl::StrCat("ipv4:", absl::StrJoin(replicas, ","));
      target.replica_set = true;
    } else if (IsHostPort(entry)) {
      target.grpc_target = entry;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--backend: '", entry,
          "' is not host:port, host:port+host:port, or a gRPC target such "
          "as dns:///name:port"));
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

absl::Status ValidateBackendChannelOptions(
    const BackendChannelOptions& options) {
  if (options.max_attempts < 1 || options.max_attempts > 5) {
    // gRPC's C-core caps attempts at 5.
    return absl::InvalidArgumentError("--retries must be 1 (off) to 5");
  }
  if (options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff ||
      options.max_backoff > absl::Seconds(10)) {
    return absl::InvalidArgumentError(
        "--retry_backoff must be above 0, --retry_max_backoff at least that "
        "and at most 10s");
  }
  if (options.connect_timeout < absl::Milliseconds(100) ||
      options.connect_timeout > absl::Seconds(20)) {
    return absl::InvalidArgumentError(
        "--backend_connect_timeout must be 100ms to 20s");
  }
  return absl::OkStatus();
}

std::string BackendServiceConfig(const BackendTarget& target,
                                 const BackendChannelOptions& options) {
  std::string method = R"({"name": [{"service": "deadline.v1.Backend"}])";
  if (options.max_attempts > 1) {
    // Only UNAVAILABLE is retried: the backend refused before any work.
    // Every attempt lives inside the call's one deadline.
    absl::StrAppend(
        &method, R"(, "retryPolicy": {"maxAttempts": )", options.max_attempts,
        R"(, "initialBackoff": ")", Seconds(options.initial_backoff),
        R"(", "maxBackoff": ")", Seconds(options.max_backoff),
        R"(", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]})");
  }
  absl::StrAppend(&method, "}");
  std::string config = absl::StrCat(R"({"methodConfig": [)", method, "]");
  if (options.max_attempts > 1) {
    // A token bucket per process and target: each failed attempt takes a
    // token, each successful call gives back 1.5, and retries stop at half
    // of the 100. At a 50% failure rate a call costs about one failed
    // attempt and brings 1.4 back, so retries go on; in a sustained outage
    // they stop after 50 failed attempts. (With a bucket of 10, a run of
    // five failures already stopped them for a while.)
    absl::StrAppend(
        &config,
        R"(, "retryThrottling": {"maxTokens": 100, "tokenRatio": 1.5})");
  }
  if (target.replica_set) {
    // Balanced over the replicas whose health service says SERVING: one
    // that drains (NOT_SERVING) gets no new calls.
    absl::StrAppend(&config,
                    R"(, "loadBalancingConfig": [{"round_robin": {}}])",
                    R"(, "healthCheckConfig": {"serviceName": ""})");
  }
  absl::StrAppend(&config, "}");
  return config;
}

std::shared_ptr<grpc::Channel> CreateBackendChannel(
    const BackendTarget& target, const BackendChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(BackendServiceConfig(target, options));
  // Reconnect soon after a backend comes back, and give up on a connection
  // attempt that hangs (a dead host) quickly instead of after 20 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(
      GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
      static_cast<int>(absl::ToInt64Milliseconds(options.connect_timeout)));
  // Connections of its own. By default channels with equal arguments share
  // a process-wide pool of subchannels, so two entries naming one backend
  // share its connection and its reconnect backoff; and in gRPC 1.51 a
  // pick_first that starts over (after its connection broke) on a
  // subchannel already waiting out a backoff reports CONNECTING, so its
  // fail-fast calls waited out that backoff (100 ms at first, up to 2 s
  // later) instead of failing at once.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  SetKeepalive(options.keepalive, args);
  args.SetInt(GRPC_ARG_MAX_METADATA_SIZE, options.max_metadata_bytes);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, options.max_attempts > 1 ? 1 : 0);
  if (options.stream_window_bytes > 0) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
                options.stream_window_bytes);
  }
  return grpc::CreateCustomChannel(target.grpc_target, credentials, args);
}

}  // namespace deadline

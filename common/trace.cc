#include "common/trace.h"

#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"

namespace deadline {
namespace {

bool SaneRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool ParseTrailer(const grpc::ClientContext& context,
                  deadline::v1::BudgetTrace& trace) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kTraceKey);
  return it != trailers.end() &&
         trace.ParseFromArray(it->second.data(),
                              static_cast<int>(it->second.size()));
}

}  // namespace

bool TraceWanted(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kTraceRequestKey);
  return it != metadata.end() && it->second == kTraceRequestAlways;
}

void WantTrace(grpc::ClientContext& context) {
  context.AddMetadata(kTraceRequestKey, kTraceRequestAlways);
}

void AttachTrace(grpc::ServerContextBase& context,
                 const deadline::v1::BudgetTrace& trace,
                 const absl::Status& status) {
  if (status.ok() && !TraceWanted(context)) return;
  context.AddTrailingMetadata(kTraceKey, trace.SerializeAsString());
}

absl::optional<deadline::v1::BudgetTrace> TraceFrom(
    const grpc::ClientContext& context) {
  deadline::v1::BudgetTrace trace;
  if (!ParseTrailer(context, trace)) return absl::nullopt;
  return trace;
}

deadline::v1::BudgetTrace* TraceFrom(const grpc::ClientContext& context,
                                     google::protobuf::Arena* arena) {
  auto* trace =
      google::protobuf::Arena::CreateMessage<deadline::v1::BudgetTrace>(arena);
  return ParseTrailer(context, *trace) ? trace : nullptr;
}

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kRequestIdKey);
  if (it != metadata.end()) {
    const absl::string_view id(it->second.data(), it->second.size());
    if (SaneRequestId(id)) return std::string(id);
  }
  return NewRequestId();
}

std::string NewRequestId() {
  // One generator per thread: no lock on the hot path.
  thread_local std::mt19937_64 engine(std::random_device{}());
  uint64_t bits = engine();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, bits >>= 4)
    id[i] = "0123456789abcdef"[bits & 15];
  return id;
}

deadline::v1::HopTrace NewHop(absl::string_view hop) {
  deadline::v1::HopTrace trace;
  trace.set_hop(std::string(hop));
  trace.set_panel(-1);
  return trace;
}

}  // namespace deadline

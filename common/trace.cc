#include "common/trace.h"

#include <cstdint>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

std::string Trimmed(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  // The marker's number is at most 20 digits.
  constexpr size_t kMarker = sizeof("...[trimmed  bytes]") - 1 + 20;
  size_t keep = max_bytes > kMarker ? max_bytes - kMarker : 0;
  // Never cut a UTF-8 character in two: back off over continuation bytes.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) {
    --keep;
  }
  std::string cut = absl::StrCat(text.substr(0, keep), "...[trimmed ",
                                 text.size() - keep, " bytes]");
  if (cut.size() > max_bytes) cut.resize(max_bytes);
  return cut;
}

void FitTrace(deadline::v1::BudgetTrace& trace, size_t max_bytes) {
  if (trace.ByteSizeLong() <= max_bytes) return;
  const auto trim = [](std::string* text) {
    if (text->size() > kMaxTraceTextBytes) {
      *text = Trimmed(*text, kMaxTraceTextBytes);
    }
  };
  trim(trace.mutable_request_id());
  for (deadline::v1::HopTrace& hop : *trace.mutable_hops()) {
    for (std::string* text : {hop.mutable_hop(), hop.mutable_address(),
                              hop.mutable_code(), hop.mutable_stop()}) {
      trim(text);
    }
  }
  // Hops leave from the end; one marker hop says how many left.
  int left_out = 0;
  while (trace.ByteSizeLong() > max_bytes &&
         trace.hops_size() > (left_out > 0 ? 2 : 1)) {
    if (left_out > 0) trace.mutable_hops()->RemoveLast();  // The marker.
    trace.mutable_hops()->RemoveLast();
    ++left_out;
    deadline::v1::HopTrace& marker = *trace.add_hops();
    marker.set_hop("...");
    marker.set_panel(-1);
    marker.set_stop(absl::StrCat(left_out,
                                 " more hop(s) left out: a trace is at most ",
                                 max_bytes, " bytes"));
  }
}

void AttachTrace(grpc::ServerContextBase& context,
                 const deadline::v1::BudgetTrace& trace,
                 const absl::Status& status) {
  if (status.ok() && !TraceWanted(context)) return;
  // A cancelled call's trailers reach nobody: spare the bytes (a burst of
  // cancels is where a server needs its CPU for other callers).
  if (status.code() == absl::StatusCode::kCancelled && context.IsCancelled()) {
    return;
  }
  std::string bytes = trace.SerializeAsString();
  if (bytes.size() > kMaxTraceBytes) {
    deadline::v1::BudgetTrace fitted = trace;
    FitTrace(fitted);
    bytes = fitted.SerializeAsString();
  }
  context.AddTrailingMetadata(kTraceKey, bytes);
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

int AttemptOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("grpc-previous-rpc-attempts");
  int previous = 0;
  if (it == metadata.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()),
                        &previous) ||
      previous < 0 || previous > 100) {
    return 1;
  }
  return previous + 1;
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

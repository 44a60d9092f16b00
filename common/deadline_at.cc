#include "common/deadline_at.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace deadline {
namespace {

// The one value of `key` in `context`'s metadata: nullopt when absent;
// `malformed` set when it does not parse or is sent more than once.
absl::optional<absl::Time> Entry(const grpc::ServerContextBase& context,
                                 absl::string_view key, bool& malformed) {
  const auto& metadata = context.client_metadata();
  const auto [first, last] =
      metadata.equal_range(grpc::string_ref(key.data(), key.size()));
  if (first == last) return absl::nullopt;
  if (std::next(first) != last) {
    malformed = true;
    return absl::nullopt;
  }
  const absl::optional<absl::Time> t = ParseUnixMicros(
      absl::string_view(first->second.data(), first->second.size()));
  if (!t.has_value()) malformed = true;
  return t;
}

}  // namespace

std::string FormatUnixMicros(absl::Time t) {
  return absl::StrCat(absl::ToUnixMicros(t));
}

absl::optional<absl::Time> ParseUnixMicros(absl::string_view text) {
  // At most 18 digits: the value fits in an int64_t, and absl::Time holds
  // it exactly (year 33658 at most).
  if (text.empty() || text.size() > 18) return absl::nullopt;
  for (const char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return absl::nullopt;
    }
  }
  int64_t micros = 0;
  if (!absl::SimpleAtoi(text, &micros)) return absl::nullopt;
  return absl::FromUnixMicros(micros);
}

DeadlineAt DeadlineAtOf(const grpc::ServerContextBase& context) {
  DeadlineAt result;
  result.at = Entry(context, kDeadlineAtKey, result.malformed);
  result.sent_at = Entry(context, kDeadlineSentAtKey, result.malformed);
  return result;
}

void SendDeadlineAt(grpc::ClientContext& context, absl::Time deadline,
                    absl::Time sent_at) {
  if (deadline == absl::InfiniteFuture()) return;
  context.AddMetadata(kDeadlineAtKey,
                      FormatUnixMicros(std::max(deadline, absl::UnixEpoch())));
  context.AddMetadata(kDeadlineSentAtKey, FormatUnixMicros(sent_at));
}

}  // namespace deadline

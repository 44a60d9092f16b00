#include "common/printable.h"

#include <cstdint>

#include "absl/strings/str_format.h"

namespace deadline {
namespace {

// Decodes the UTF-8 sequence at the start of `s` (not empty) into
// `code_point`; returns its length, or 0 when it is not valid UTF-8
// (truncated, overlong, a surrogate or above U+10FFFF).
size_t DecodeUtf8(absl::string_view s, uint32_t& code_point) {
  const auto at = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = at(0);
  size_t length;
  uint32_t lowest;  // The least code point needing this length.
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    lowest = 0x80;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    lowest = 0x800;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    lowest = 0x10000;
    code_point = lead & 0x07;
  } else {
    return 0;  // A continuation byte, or 0xF8-0xFF.
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((at(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (at(i) & 0x3F);
  }
  if (code_point < lowest || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

// Characters that are valid UTF-8 but must not reach a terminal or XML.
bool IsUnsafe(uint32_t c) {
  return (c >= 0x80 && c <= 0x9F) ||      // C1 controls, e.g. CSI.
         c == 0x200E || c == 0x200F ||    // Left-to-right/right-to-left marks.
         (c >= 0x202A && c <= 0x202E) ||  // Bidi embeddings and overrides.
         (c >= 0x2066 && c <= 0x2069) ||  // Bidi isolates.
         c == 0x2028 || c == 0x2029 ||    // Line and paragraph separators.
         c == 0xFFFE || c == 0xFFFF;      // Not characters (nor XML's).
}

}  // namespace

std::string Printable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const uint8_t byte = static_cast<uint8_t>(text[0]);
    if (byte >= 0x20 && byte < 0x7F) {
      out.push_back(text[0]);
      text.remove_prefix(1);
      continue;
    }
    uint32_t c = 0;
    const size_t length = DecodeUtf8(text, c);
    if (length == 0 || c < 0x20 || c == 0x7F) {
      switch (byte) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          absl::StrAppendFormat(&out, "\\x%02x", byte);
      }
      text.remove_prefix(1);
    } else if (IsUnsafe(c)) {
      absl::StrAppendFormat(&out, "\\u{%04X}", c);
      text.remove_prefix(length);
    } else {
      out.append(text.data(), length);
      text.remove_prefix(length);
    }
  }
  return out;
}

}  // namespace deadline

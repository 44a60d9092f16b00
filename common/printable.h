#ifndef DEADLINE_COMMON_PRINTABLE_H_
#define DEADLINE_COMMON_PRINTABLE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace deadline {

// `text` made safe to print when it comes from elsewhere (a peer's status
// message, trace or reply): the result is valid UTF-8 holding no control
// character, so it cannot move the cursor, recolour or clear a terminal,
// start a new line of a log or report, or break an XML document.
//
// Kept as is: printable ASCII and valid UTF-8 sequences of printable
// characters. Written as escapes instead: "\n", "\r" and "\t"; "\xNN" for
// the other C0 controls, DEL and every byte that is not part of a valid
// UTF-8 sequence (e.g. "\x1b" for ESC); "\u{NNNN}" for C1 controls
// (U+0080-U+009F), the bidirectional controls that reorder text
// (U+200E/F, U+202A-U+202E, U+2066-U+2069), the line and paragraph
// separators (U+2028/9) and U+FFFE/U+FFFF. Backslashes are kept, so the
// result is for people, not meant to be unescaped.
std::string Printable(absl::string_view text);

}  // namespace deadline

#endif  // DEADLINE_COMMON_PRINTABLE_H_

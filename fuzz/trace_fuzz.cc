// Rendering a call's story from untrusted bytes: a hostile or broken server
// chooses every byte of the deadline.v1.BudgetTrace the client draws (the
// `deadline-trace-bin` trailer) and of the replies and status message the
// report prints. The bytes are read as a BudgetTrace, as the trailer's
// base64 wire value, and as a FetchAllReply; each is rendered as the client
// would, as text and as SVG.
//
// Invariants: the text has one line per lane (no newline or other control
// character from the input gets through) and is valid UTF-8; the SVG is
// well-formed XML (valid UTF-8, balanced tags, quoted attributes, no raw '<'
// or stray '&' from the input), every number in it is finite, and it draws
// one lane per hop.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/report.h"
#include "client/timeline.h"
#include "fuzz/check.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/support/status.h"
#include "proto/deadline.pb.h"

namespace deadline {
namespace {

const absl::Time kStart = absl::FromUnixMicros(1'795'400'000'000'000);

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8Length(absl::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const auto cont = [&](size_t i) {
    return i < s.size() && (byte(i) & 0xC0) == 0x80;
  };
  const uint8_t b = byte(0);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (b == 0xE0 && byte(1) < 0xA0) return 0;   // Overlong.
    if (b == 0xED && byte(1) >= 0xA0) return 0;  // A surrogate.
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (b == 0xF0 && byte(1) < 0x90) return 0;   // Overlong.
    if (b == 0xF4 && byte(1) >= 0x90) return 0;  // Above U+10FFFF.
    return 4;
  }
  return 0;
}

// Valid UTF-8 without control characters (C0, DEL, C1) other than '\n',
// and without U+FFFE/U+FFFF (not XML characters).
void CheckPrintable(absl::string_view text, const char* what) {
  for (size_t i = 0; i < text.size();) {
    const absl::string_view rest = text.substr(i);
    const size_t n = Utf8Length(rest);
    FUZZ_CHECK(n > 0, "%s: invalid UTF-8 at byte %zu", what, i);
    const uint8_t b = static_cast<uint8_t>(rest[0]);
    FUZZ_CHECK(n > 1 || b == '\n' || (b >= 0x20 && b != 0x7F),
               "%s: control character 0x%02x at byte %zu", what, b, i);
    FUZZ_CHECK(!(n == 2 && b == 0xC2 && static_cast<uint8_t>(rest[1]) < 0xA0),
               "%s: C1 control character at byte %zu", what, i);
    FUZZ_CHECK(!(n == 3 && absl::StartsWith(rest, "\xEF\xBF") &&
                 static_cast<uint8_t>(rest[2]) >= 0xBE),
               "%s: U+FFFE/U+FFFF at byte %zu", what, i);
    i += n;
  }
}

// Character data or an attribute value: '&' only as an entity, no '<'.
void CheckCharData(absl::string_view text) {
  FUZZ_CHECK(!absl::StrContains(text, '<'), "raw '<' in text: %s",
             std::string(text).c_str());
  for (size_t at = text.find('&'); at != absl::string_view::npos;
       at = text.find('&', at + 1)) {
    const absl::string_view rest = text.substr(at);
    FUZZ_CHECK(
        absl::StartsWith(rest, "&amp;") || absl::StartsWith(rest, "&lt;") ||
            absl::StartsWith(rest, "&gt;") || absl::StartsWith(rest, "&quot;"),
        "stray '&' in text: %s", std::string(text).c_str());
  }
}

bool IsNumericAttribute(absl::string_view name) {
  for (absl::string_view numeric :
       {"x", "y", "x1", "y1", "x2", "y2", "width", "height", "rx", "font-size",
        "stroke-width", "viewBox"}) {
    if (name == numeric) return true;
  }
  return false;
}

void CheckNumbers(absl::string_view name, absl::string_view value) {
  if (name == "d") {  // A path: letters and numbers.
    FUZZ_CHECK(
        !absl::StrContains(value, "nan") && !absl::StrContains(value, "inf"),
        "path %s", std::string(value).c_str());
    return;
  }
  if (!IsNumericAttribute(name)) return;
  for (absl::string_view number : absl::StrSplit(value, ' ')) {
    absl::ConsumeSuffix(&number, "%");
    double parsed = 0;
    FUZZ_CHECK(absl::SimpleAtod(number, &parsed) && std::isfinite(parsed),
               "%s=\"%s\"", std::string(name).c_str(),
               std::string(value).c_str());
  }
}

// A small XML well-formedness check, enough for the SVG the timeline
// writes: one root element, balanced tags, quoted attributes, escaped text.
// Returns the number of lanes drawn.
int CheckSvg(absl::string_view svg) {
  CheckPrintable(svg, "svg");
  std::vector<std::string> open;
  int roots = 0;
  int lanes = 0;
  size_t i = 0;
  while (i < svg.size()) {
    const size_t lt = svg.find('<', i);
    const absl::string_view text = svg.substr(
        i, lt == absl::string_view::npos ? absl::string_view::npos : lt - i);
    CheckCharData(text);
    if (open.empty()) {
      FUZZ_CHECK(absl::StripAsciiWhitespace(text).empty(),
                 "text outside the root: %s", std::string(text).c_str());
    }
    if (lt == absl::string_view::npos) break;
    const size_t gt = svg.find('>', lt);
    FUZZ_CHECK(gt != absl::string_view::npos, "unterminated tag at %zu", lt);
    absl::string_view tag = svg.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (absl::ConsumePrefix(&tag, "/")) {
      FUZZ_CHECK(!open.empty() && open.back() == tag, "</%s> closes %s",
                 std::string(tag).c_str(),
                 open.empty() ? "nothing" : open.back().c_str());
      open.pop_back();
      continue;
    }
    const bool empty_element = absl::ConsumeSuffix(&tag, "/");
    const size_t name_end = std::min(tag.find(' '), tag.size());
    const std::string name(tag.substr(0, name_end));
    FUZZ_CHECK(!name.empty() && absl::ascii_isalpha(name[0]), "tag <%s>",
               std::string(tag).c_str());
    if (open.empty()) {
      FUZZ_CHECK(name == "svg" && ++roots == 1, "root <%s>", name.c_str());
    }
    // Attributes: name="value", separated by single spaces.
    absl::string_view attributes = tag.substr(name_end);
    while (absl::ConsumePrefix(&attributes, " ")) {
      const size_t eq = attributes.find("=\"");
      FUZZ_CHECK(eq != absl::string_view::npos, "attribute in <%s>",
                 std::string(tag).c_str());
      const absl::string_view attribute = attributes.substr(0, eq);
      attributes.remove_prefix(eq + 2);
      const size_t quote = attributes.find('"');
      FUZZ_CHECK(quote != absl::string_view::npos, "unquoted in <%s>",
                 std::string(tag).c_str());
      const absl::string_view value = attributes.substr(0, quote);
      attributes.remove_prefix(quote + 1);
      CheckCharData(value);
      CheckNumbers(attribute, value);
      if (name == "g" && attribute == "class" && value == "lane") ++lanes;
    }
    FUZZ_CHECK(attributes.empty(), "junk in <%s>", std::string(tag).c_str());
    if (!empty_element) open.push_back(name);
  }
  FUZZ_CHECK(open.empty() && roots == 1, "%zu elements left open", open.size());
  return lanes;
}

void CheckLines(absl::string_view text, size_t lines, const char* what) {
  CheckPrintable(text, what);
  FUZZ_CHECK(absl::EndsWith(text, "\n"), "%s does not end a line", what);
  const size_t newlines = std::count(text.begin(), text.end(), '\n');
  FUZZ_CHECK(newlines == lines, "%s: %zu lines, expected %zu", what, newlines,
             lines);
}

void RenderTrace(const deadline::v1::BudgetTrace& trace) {
  ClientView with_deadline;
  with_deadline.start = kStart;
  with_deadline.elapsed = absl::Microseconds(91'300);
  with_deadline.deadline = kStart + absl::Milliseconds(100);
  with_deadline.code = "DEADLINE_EXCEEDED";
  with_deadline.request_id = "5f2c9a0e1b7d4c83";
  ClientView without = with_deadline;
  without.deadline = absl::InfiniteFuture();
  without.code = "OK";

  for (const ClientView& view : {with_deadline, without}) {
    const Timeline timeline = MakeTimeline("Fetch", view, trace);
    FUZZ_CHECK(
        timeline.lanes.size() == 1 + static_cast<size_t>(trace.hops_size()),
        "%zu lanes for %d hops", timeline.lanes.size(), trace.hops_size());
    CheckLines(FormatTimeline(timeline),
               timeline.lanes.size() + 1 + (timeline.missing.empty() ? 0 : 1),
               "text timeline");
    const int lanes = CheckSvg(RenderSvg(timeline));
    FUZZ_CHECK(static_cast<size_t>(lanes) == timeline.lanes.size(),
               "svg draws %d lanes of %zu", lanes, timeline.lanes.size());
  }
}

void RenderReply(const deadline::v1::FetchAllReply& reply,
                 absl::string_view message) {
  FetchAllOutcome outcome;
  outcome.reply = reply;
  outcome.elapsed = absl::Microseconds(91'300);
  CheckLines(FormatFanOut(outcome, absl::Milliseconds(100)),
             3 + reply.panels_size(), "fan-out report");
  outcome.status =
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, std::string(message));
  CheckLines(FormatFanOut(outcome, absl::Milliseconds(100)), 3,
             "failed fan-out report");
}

}  // namespace
}  // namespace deadline

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Protobuf logs every string field that is not UTF-8 (such a message does
  // not parse): quiet, fuzzing is faster.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  static_cast<void>(quiet);
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  deadline::v1::BudgetTrace trace;
  if (trace.ParseFromArray(data, static_cast<int>(size))) {
    deadline::RenderTrace(trace);
  }
  // On the wire, a -bin trailer is base64; gRPC decodes it before
  // TraceFrom() parses it.
  std::string decoded;
  if (absl::Base64Unescape(bytes, &decoded) && trace.ParseFromString(decoded)) {
    deadline::RenderTrace(trace);
  }
  deadline::v1::FetchAllReply reply;
  if (reply.ParseFromArray(data, static_cast<int>(size))) {
    deadline::RenderReply(reply, bytes);
  }
  return 0;
}

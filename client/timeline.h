#ifndef DEADLINE_CLIENT_TIMELINE_H_
#define DEADLINE_CLIENT_TIMELINE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "proto/deadline.pb.h"

namespace deadline {

// One hop's part in a call, on a shared wall clock (all hops run on one
// machine here; across machines, clock skew would shift the lanes).
struct Lane {
  std::string label;  // "client", "frontend", "backend 127.0.0.1:50061"
  absl::Time start;
  absl::Time end;
  absl::optional<absl::Time> deadline;        // The deadline this hop saw.
  absl::optional<absl::Time> noticed_cancel;  // When it saw its caller go.
  std::string code;                           // "OK", "DEADLINE_EXCEEDED"...
  std::string detail;  // "98.4ms at arrival, forwarded 88.4ms; done"
  // When its caller sent the call (the hop's arrival less its arrival
  // delay, when known): the time before `start` was on the wire and
  // waiting to be read.
  absl::optional<absl::Time> sent;
  // Where the time from `start` to `end` went, when the hop said: waiting
  // for a worker, its own work, waiting on its calls.
  absl::optional<absl::Duration> queued, working, waiting;
};

struct Timeline {
  std::string title;
  std::string request_id;
  absl::Time origin;  // The client's start: times are shown from here.
  std::vector<Lane> lanes;
  // Set when no hop's story came back: why, in words.
  std::string missing;
};

// What the client knows of a finished call.
struct ClientView {
  absl::Time start;
  absl::Duration elapsed;
  absl::Time deadline;  // absl::InfiniteFuture() for none.
  std::string code;
  std::string request_id;
};

// The client's lane, then one lane per hop of `trace` (if the server sent
// one). Without a trace, `missing` says why: when the call ended with
// DEADLINE_EXCEEDED, it was the client's own timer that fired first.
Timeline MakeTimeline(absl::string_view title, const ClientView& client,
                      const absl::optional<deadline::v1::BudgetTrace>& trace);

// The timeline as text, one line per lane, times in ms from the client's
// start, and under a hop that said where its time went, a line that does.
// The lanes' text comes from the servers: it is printed through
// Printable() (common/printable.h), so a line stays one line and holds no
// escape sequence. E.g.
//   frontend   0.9 -> 90.8ms  DEADLINE_EXCEEDED  98.4ms at arrival, ...
//              0.3ms to arrive; 0.0 queued, 1.1 working, 89.8 waiting
std::string FormatTimeline(const Timeline& timeline);

// The timeline as a standalone SVG image: a lane per hop with a bar from
// arrival to finish (coloured by status code; the part queued for a worker
// paler; a thin line before it for the time on the wire and waiting to be
// read), each hop's deadline as a
// dashed line across its lane, the client's deadline as a line across all
// lanes, and a mark where a hop noticed that its caller had gone. Well-formed
// XML whatever the lanes hold: their text goes through Printable() and is
// escaped.
std::string RenderSvg(const Timeline& timeline);

}  // namespace deadline

#endif  // DEADLINE_CLIENT_TIMELINE_H_

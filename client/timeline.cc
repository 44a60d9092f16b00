#include "client/timeline.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/printable.h"
#include "common/time_util.h"

namespace deadline {
namespace {

using deadline::v1::HopTrace;

std::string HopDetail(const HopTrace& hop) {
  if (!hop.has_budget_at_arrival() &&
      absl::StartsWith(hop.stop(), "no answer")) {
    return absl::StrCat(hop.stop(), " (as seen by its caller)");
  }
  std::string detail = absl::StrCat(
      FormatBudgetField(hop.has_budget_at_arrival(), hop.budget_at_arrival()),
      " at arrival");
  if (hop.hop() == "frontend") {
    absl::StrAppend(&detail, ", forwarded ",
                    FormatBudgetField(hop.has_forwarded(), hop.forwarded()));
  }
  if (hop.steps_requested() > 0 || hop.steps_done() > 0) {
    absl::StrAppend(&detail, ", ", hop.steps_done(), "/", hop.steps_requested(),
                    " steps");
  }
  absl::StrAppend(&detail, "; ", hop.stop());
  return detail;
}

std::string HopLabel(const HopTrace& hop) {
  std::string label = hop.hop();
  if (!hop.address().empty()) absl::StrAppend(&label, " ", hop.address());
  if (hop.panel() >= 0) absl::StrAppend(&label, " #", hop.panel());
  return label;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Printable text for XML character data and attribute values.
std::string Escape(absl::string_view text) {
  return absl::StrReplaceAll(
      Printable(text),
      {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// At most `limit` bytes, with an ellipsis when cut; never cuts a UTF-8
// sequence in two.
std::string Shorten(absl::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  size_t cut = limit - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;  // text[cut] continues a sequence: cut before its first byte.
  }
  return absl::StrCat(text.substr(0, cut), "...");
}

std::string ColourOf(absl::string_view code) {
  if (code == "OK") return "#4caf50";
  if (code == "DEADLINE_EXCEEDED") return "#ff9800";
  if (code == "CANCELLED") return "#9e9e9e";
  return "#e53935";
}

// A round step for axis ticks: 1, 2 or 5 times a power of ten, giving
// about eight ticks over `span_ms`.
double TickStep(double span_ms) {
  const double raw = std::max(span_ms / 8, 0.001);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0}) {
    if (factor * power >= raw) return factor * power;
  }
  return 10 * power;
}

}  // namespace

Timeline MakeTimeline(absl::string_view title, const ClientView& client,
                      const absl::optional<deadline::v1::BudgetTrace>& trace) {
  Timeline timeline;
  timeline.title = std::string(title);
  timeline.request_id = client.request_id;
  timeline.origin = client.start;

  Lane lane;
  lane.label = "client";
  lane.start = client.start;
  lane.end = client.start + client.elapsed;
  if (client.deadline != absl::InfiniteFuture()) {
    lane.deadline = client.deadline;
  }
  lane.code = client.code;
  lane.detail = absl::StrCat(
      client.deadline == absl::InfiniteFuture()
          ? "no deadline"
          : absl::StrCat("deadline ",
                         FormatBudget(client.deadline - client.start)),
      "; waited ", FormatBudget(client.elapsed));
  timeline.lanes.push_back(lane);

  if (!trace.has_value() || trace->hops_size() == 0) {
    if (client.code == "DEADLINE_EXCEEDED") {
      timeline.missing =
          "no hop answered in time to explain: the client's own deadline "
          "fired first (the frontend kept no margin, or it is stuck)";
    } else if (client.code == "CANCELLED") {
      timeline.missing =
          "the client cancelled: the hops stopped too, but a cancelled call "
          "brings nothing back (their log lines carry this request id)";
    } else {
      timeline.missing =
          "no hop sent its story back (the call did not reach the frontend)";
    }
    return timeline;
  }
  if (!trace->request_id().empty()) timeline.request_id = trace->request_id();
  for (const HopTrace& hop : trace->hops()) {
    Lane hop_lane;
    hop_lane.label = HopLabel(hop);
    hop_lane.start =
        hop.has_arrived_at() ? FromProtoTime(hop.arrived_at()) : client.start;
    hop_lane.end = hop.has_finished_at() ? FromProtoTime(hop.finished_at())
                                         : hop_lane.start;
    if (hop.has_deadline()) hop_lane.deadline = FromProtoTime(hop.deadline());
    if (hop.has_noticed_cancel_at()) {
      hop_lane.noticed_cancel = FromProtoTime(hop.noticed_cancel_at());
    }
    hop_lane.code = hop.code();
    hop_lane.detail = HopDetail(hop);
    if (hop.has_arrival_delay() && hop.has_arrived_at()) {
      const absl::StatusOr<absl::Duration> delay =
          FromProtoDuration(hop.arrival_delay(), "arrival_delay");
      if (delay.ok()) hop_lane.sent = hop_lane.start - *delay;
    }
    const auto part = [](bool has, const google::protobuf::Duration& d)
        -> absl::optional<absl::Duration> {
      if (!has) return absl::nullopt;
      const absl::StatusOr<absl::Duration> parsed = FromProtoDuration(d, "");
      if (!parsed.ok()) return absl::nullopt;
      return *parsed;
    };
    hop_lane.queued = part(hop.has_queued(), hop.queued());
    hop_lane.working = part(hop.has_working(), hop.working());
    hop_lane.waiting = part(hop.has_waiting(), hop.waiting());
    timeline.lanes.push_back(hop_lane);
  }
  return timeline;
}

std::string FormatTimeline(const Timeline& timeline) {
  std::vector<std::string> labels;
  size_t width = 0;
  for (const Lane& lane : timeline.lanes) {
    labels.push_back(Printable(lane.label));
    width = std::max(width, labels.back().size());
  }
  std::string text =
      absl::StrCat("timeline of request ", Printable(timeline.request_id),
                   " (ms from the client's start):\n");
  for (size_t i = 0; i < timeline.lanes.size(); ++i) {
    const Lane& lane = timeline.lanes[i];
    absl::StrAppend(
        &text, absl::StrFormat("  %-*s %7.1f -> %7.1fms  %-17s %s\n",
                               static_cast<int>(width), labels[i],
                               Ms(lane.start - timeline.origin),
                               Ms(lane.end - timeline.origin),
                               Printable(lane.code), Printable(lane.detail)));
    if (lane.sent.has_value() || lane.working.has_value()) {
      std::string where;
      if (lane.sent.has_value()) {
        absl::StrAppend(&where, FormatBudget(lane.start - *lane.sent),
                        " to arrive");
      }
      if (lane.working.has_value()) {
        const auto ms = [](const absl::optional<absl::Duration>& d) {
          return FormatBudget(d.value_or(absl::ZeroDuration()));
        };
        absl::StrAppend(&where, where.empty() ? "" : "; ", ms(lane.queued),
                        " queued, ", ms(lane.working), " working, ",
                        ms(lane.waiting), " waiting on calls");
      }
      absl::StrAppend(
          &text, absl::StrFormat("  %-*s %s\n", static_cast<int>(width) + 22,
                                 "", where));
    }
  }
  if (!timeline.missing.empty()) {
    absl::StrAppend(&text, "  ", Printable(timeline.missing), "\n");
  }
  return text;
}

std::string RenderSvg(const Timeline& timeline) {
  constexpr double kLeft = 230;  // Label column.
  constexpr double kPlot = 640;  // Plot width.
  constexpr double kLane = 46;   // Lane height: a bar, and a line of text.
  constexpr double kTop = 52;    // Title and axis.
  const double height = kTop + kLane * timeline.lanes.size() +
                        (timeline.missing.empty() ? 62 : 82);

  // The span: every bar and every deadline, plus a little room. A time too
  // far away to subtract (a peer's broken clock) does not count: x() puts
  // it at the edge.
  absl::Duration span = absl::Milliseconds(1);
  const auto extend = [&](absl::Time t) {
    const absl::Duration d = t - timeline.origin;
    if (d != absl::InfiniteDuration()) span = std::max(span, d);
  };
  for (const Lane& lane : timeline.lanes) {
    extend(lane.end);
    if (lane.deadline) extend(*lane.deadline);
  }
  const double span_ms = Ms(span) * 1.08;
  const auto x = [&](absl::Time t) {
    return kLeft +
           kPlot * std::clamp(Ms(t - timeline.origin) / span_ms, 0.0, 1.0);
  };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
      "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\" font-size=\"15\" "
      "font-weight=\"bold\">%s</text>\n"
      "<text x=\"10\" y=\"38\" fill=\"#555\">request %s; ms from the client's "
      "start</text>\n",
      kLeft + kPlot + 20, height, kLeft + kPlot + 20, height,
      Escape(timeline.title), Escape(timeline.request_id));

  // Axis ticks and grid.
  const double lanes_bottom = kTop + kLane * timeline.lanes.size();
  const double step = TickStep(span_ms);
  for (double t = 0; t <= span_ms; t += step) {
    const double tx = kLeft + kPlot * t / span_ms;
    absl::StrAppend(
        &svg,
        absl::StrFormat("<line class=\"grid\" x1=\"%.1f\" y1=\"%.0f\" "
                        "x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/>\n"
                        "<text x=\"%.1f\" y=\"%.0f\" fill=\"#777\" "
                        "text-anchor=\"middle\">%g</text>\n",
                        tx, kTop, tx, lanes_bottom, tx, lanes_bottom + 14, t));
  }

  for (size_t i = 0; i < timeline.lanes.size(); ++i) {
    const Lane& lane = timeline.lanes[i];
    const double top = kTop + kLane * i;
    const double bar_x = x(lane.start);
    const double bar_w = std::max(x(lane.end) - bar_x, 1.0);
    if (lane.sent.has_value()) {
      // From the caller's send to this hop's reading the call.
      absl::StrAppend(
          &svg, absl::StrFormat("<line class=\"arrival\" x1=\"%.1f\" "
                                "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                "stroke=\"#555\" stroke-width=\"2\"/>\n",
                                x(*lane.sent), top + 15, bar_x, top + 15));
    }
    absl::StrAppend(
        &svg,
        absl::StrFormat(
            "<g class=\"lane\" data-hop=\"%s\">\n"
            "<text x=\"10\" y=\"%.1f\">%s</text>\n"
            "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"18\" fill=\"%s\" rx=\"3\"><title>%s: "
            "%s</title></rect>\n"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" "
            "fill=\"#444\">%s: %s</text>\n",
            Escape(lane.label), top + 19, Escape(lane.label), bar_x, top + 6,
            bar_w, ColourOf(lane.code), Escape(lane.code), Escape(lane.detail),
            std::min(bar_x, kLeft + kPlot * 0.45), top + 37, Escape(lane.code),
            Escape(Shorten(Printable(lane.detail), 100))));
    if (lane.queued.has_value() && *lane.queued > absl::ZeroDuration()) {
      // Waiting for a worker: the first part of the bar, paler.
      const double qw =
          std::clamp(x(lane.start + *lane.queued) - bar_x, 0.0, bar_w);
      absl::StrAppend(
          &svg, absl::StrFormat("<rect class=\"queued\" x=\"%.1f\" y=\"%.1f\" "
                                "width=\"%.1f\" height=\"18\" fill=\"white\" "
                                "fill-opacity=\"0.5\"/>\n",
                                bar_x, top + 6, qw));
    }
    if (lane.deadline) {
      const double dx = x(*lane.deadline);
      absl::StrAppend(
          &svg,
          absl::StrFormat("<line class=\"deadline\" x1=\"%.1f\" y1=\"%.1f\" "
                          "x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c62828\" "
                          "stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\n",
                          dx, top + 2, dx, top + 28));
    }
    if (lane.noticed_cancel) {
      const double cx = x(*lane.noticed_cancel);
      const double cy = top + 15;
      absl::StrAppend(
          &svg, absl::StrFormat(
                    "<path class=\"cancel\" d=\"M%.1f %.1fl8 8m0 -8l-8 8\" "
                    "stroke=\"black\" stroke-width=\"2\"/>\n",
                    cx - 4, cy - 4));
    }
    absl::StrAppend(&svg, "</g>\n");
  }

  // The client's deadline across every lane.
  const Lane& client = timeline.lanes.front();
  if (client.deadline) {
    const double dx = x(*client.deadline);
    absl::StrAppend(
        &svg, absl::StrFormat(
                  "<line class=\"client-deadline\" x1=\"%.1f\" y1=\"%.0f\" "
                  "x2=\"%.1f\" y2=\"%.0f\" stroke=\"#c62828\" "
                  "stroke-width=\"1\"/>\n"
                  "<text x=\"%.1f\" y=\"%.0f\" fill=\"#c62828\" "
                  "text-anchor=\"end\">client deadline</text>\n",
                  dx, kTop - 6, dx, lanes_bottom, dx - 3, kTop - 8));
  }
  double legend_y = lanes_bottom + 34;
  absl::StrAppend(
      &svg,
      absl::StrFormat(
          "<text x=\"10\" y=\"%.0f\" fill=\"#555\">bars: from arrival to "
          "answer; green OK, orange DEADLINE_EXCEEDED, grey CANCELLED, red "
          "other</text>\n"
          "<text x=\"10\" y=\"%.0f\" fill=\"#555\">dashed: the deadline each "
          "hop saw; x: where a hop noticed its caller had gone; a line before "
          "a bar: on the wire and waiting to be read; pale: queued</text>\n",
          legend_y, legend_y + 16));
  legend_y += 16;
  if (!timeline.missing.empty()) {
    legend_y += 20;
    absl::StrAppend(
        &svg, absl::StrFormat("<text x=\"10\" y=\"%.0f\" fill=\"#c62828\">%s"
                              "</text>\n",
                              legend_y, Escape(timeline.missing)));
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace deadline

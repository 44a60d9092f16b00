#include "bench/report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace deadline::bench {
namespace {

std::string VerdictText(Verdict verdict) {
  switch (verdict) {
    case Verdict::kMet:
      return "met";
    case Verdict::kMissed:
      return "**missed**";
    case Verdict::kNone:
      break;
  }
  return "";
}

std::string JsonString(absl::string_view text) {
  std::string escaped = absl::StrReplaceAll(
      text, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}, {"\t", " "}});
  return absl::StrCat("\"", escaped, "\"");
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.6g", value);
}

std::string XmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(
      text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

}  // namespace

std::string ToMarkdown(const RunInfo& info,
                       const std::vector<Section>& sections) {
  std::string md = absl::StrCat(
      "# Benchmark results\n\nMeasured ", info.date, " on ", info.machine, ", ",
      info.build, ".",
      info.quick ? " QUICK MODE: smoke run, the numbers mean nothing." : "",
      " Ratios and distributions come from one run; absolute times are "
      "context only.\n");
  int number = 0;
  for (const Section& section : sections) {
    absl::StrAppend(
        &md, "\n## ", ++number, ". ", section.title,
        "\n\n| metric | value | floor | |\n| --- | --- | --- | --- |\n");
    for (const Row& row : section.rows) {
      absl::StrAppend(&md, "| ", row.metric, " | ", row.value, " | ", row.floor,
                      " | ", VerdictText(row.verdict), " |\n");
    }
    if (!section.analysis.empty()) {
      absl::StrAppend(&md, "\n", section.analysis, "\n");
    }
  }
  return md;
}

std::string ToJson(const RunInfo& info, const std::vector<Section>& sections) {
  std::string json =
      absl::StrCat("{\n  \"date\": ", JsonString(info.date),
                   ",\n  \"machine\": ", JsonString(info.machine),
                   ",\n  \"build\": ", JsonString(info.build),
                   ",\n  \"quick\": ", info.quick ? "true" : "false",
                   ",\n  \"sections\": [");
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section& section = sections[i];
    absl::StrAppend(
        &json, i ? "," : "", "\n    {\"id\": ", JsonString(section.id),
        ", \"title\": ", JsonString(section.title), ",\n     \"rows\": [");
    for (size_t r = 0; r < section.rows.size(); ++r) {
      const Row& row = section.rows[r];
      absl::StrAppend(&json, r ? ", " : "",
                      "{\"metric\": ", JsonString(row.metric),
                      ", \"value\": ", JsonString(row.value),
                      ", \"floor\": ", JsonString(row.floor), ", \"verdict\": ",
                      JsonString(row.verdict == Verdict::kMet      ? "met"
                                 : row.verdict == Verdict::kMissed ? "missed"
                                                                   : ""),
                      "}");
    }
    absl::StrAppend(&json, "],\n     \"figures\": {");
    bool first = true;
    for (const auto& [name, value] : section.figures) {
      absl::StrAppend(&json, first ? "" : ", ", JsonString(name), ": ",
                      JsonNumber(value));
      first = false;
    }
    absl::StrAppend(&json, "}}");
  }
  absl::StrAppend(&json, "\n  ]\n}\n");
  return json;
}

std::string PlotDistributions(const RunInfo& info,
                              const std::vector<Section>& sections) {
  constexpr double kWidth = 460;
  constexpr double kHeight = 220;
  constexpr double kMargin = 50;
  const char* colours[] = {"#1e88e5", "#e53935", "#43a047", "#fb8c00",
                           "#8e24aa"};
  std::vector<const Section*> plotted;
  for (const Section& section : sections) {
    if (!section.distributions.empty()) plotted.push_back(&section);
  }
  const int columns = 2;
  const int rows = static_cast<int>((plotted.size() + columns - 1) / columns);
  const double width = columns * (kWidth + kMargin * 2);
  const double height = 40 + rows * (kHeight + 120);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
      "height=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Latency "
      "distributions (cumulative), %s, %s</text>\n",
      width, height, XmlEscape(info.machine), XmlEscape(info.date));
  for (size_t i = 0; i < plotted.size(); ++i) {
    const Section& section = *plotted[i];
    const double left = (i % columns) * (kWidth + kMargin * 2) + kMargin;
    const double top = 50 + (i / columns) * (kHeight + 120);
    // The x axis spans every series up to its p99.5, so one outlier does
    // not squash the rest.
    double lo = 0;
    double hi = 1;
    for (const Distribution& d : section.distributions) {
      lo = std::min(lo, d.Percentile(0.0));
      hi = std::max(hi, d.Percentile(0.995));
    }
    const auto x = [&](double v) {
      return left + kWidth * (std::clamp(v, lo, hi) - lo) / (hi - lo);
    };
    const auto y = [&](double q) { return top + kHeight * (1 - q); };
    absl::StrAppend(
        &svg, absl::StrFormat(
                  "<g class=\"panel\" data-section=\"%s\">\n"
                  "<text x=\"%.0f\" y=\"%.0f\" font-weight=\"bold\">%s</text>\n"
                  "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" "
                  "fill=\"none\" stroke=\"#999\"/>\n",
                  XmlEscape(section.id), left, top - 8,
                  XmlEscape(section.title.substr(0, section.title.find(" ("))),
                  left, top, kWidth, kHeight));
    for (int t = 0; t <= 4; ++t) {
      const double v = lo + (hi - lo) * t / 4;
      absl::StrAppend(
          &svg, absl::StrFormat("<text x=\"%.1f\" y=\"%.0f\" "
                                "text-anchor=\"middle\" fill=\"#555\">%.2f "
                                "ms</text>\n",
                                x(v), top + kHeight + 14, v / 1000));
    }
    for (double q : {0.5, 0.99}) {
      absl::StrAppend(
          &svg,
          absl::StrFormat("<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" "
                          "y2=\"%.1f\" stroke=\"#ddd\"/>\n<text x=\"%.0f\" "
                          "y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">"
                          "p%g</text>\n",
                          left, y(q), left + kWidth, y(q), left - 4, y(q) + 4,
                          q * 100));
    }
    for (size_t s = 0; s < section.distributions.size(); ++s) {
      std::vector<double> values = section.distributions[s].samples();
      std::sort(values.begin(), values.end());
      std::string points;
      for (size_t k = 0; k < values.size(); ++k) {
        absl::StrAppend(&points, absl::StrFormat("%.1f,%.1f ", x(values[k]),
                                                 y((k + 1.0) / values.size())));
      }
      const char* colour = colours[s % 5];
      absl::StrAppend(
          &svg,
          absl::StrFormat("<polyline class=\"cdf\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"1.5\" points=\"%s\"/>\n"
                          "<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n",
                          colour, points, left, top + kHeight + 32 + 14 * s,
                          colour, XmlEscape(section.distributions[s].name())));
    }
    absl::StrAppend(&svg, "</g>\n");
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace deadline::bench

// Runs the benchmarks and writes results.md, results.json and latency.svg.
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/report.h"
#include "bench/scenarios.h"
#include "common/flags.h"
#include "server/serving/server_main.h"

ABSL_FLAG(bool, quick, false,
          "smoke mode: tiny counts, to prove every benchmark runs");
ABSL_FLAG(std::string, out, "bench/results", "folder for the result files");
ABSL_FLAG(std::string, bin_dir, "",
          "folder with server/backend/backend, server/frontend/frontend and "
          "bench/bare_chain "
          "(for the scale and chain comparison benchmarks); empty skips them");
ABSL_FLAG(std::string, h2load, "/usr/bin/h2load",
          "h2load, for an independent throughput figure; skipped if absent");
ABSL_FLAG(std::string, go_chain, "",
          "the Go comparison chain built by bench/go_chain/build.sh; empty "
          "leaves it out of the chain comparison");
ABSL_FLAG(std::string, python, "/usr/bin/python3",
          "Debian's python3 with python3-h2, for the flood benchmark");
ABSL_FLAG(std::string, h2flood, "bench/h2flood.py",
          "the hostile HTTP/2 peer, for the flood benchmark; skipped if "
          "absent or if python3-h2 is missing");
ABSL_FLAG(std::string, edge_render, "deploy/edge/render.sh",
          "the edge proxy's configuration renderer, for the edge benchmark; "
          "skipped if empty or without nginx");
ABSL_FLAG(std::string, nginx, "/usr/sbin/nginx",
          "nginx, for the edge benchmark");
ABSL_FLAG(std::string, only, "",
          "comma-separated benchmark ids to run (default: all)");

namespace {

std::string Machine() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (absl::StartsWith(line, "model name")) {
      model = std::string(
          absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  utsname name{};
  uname(&name);
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  return absl::StrCat(sysconf(_SC_NPROCESSORS_ONLN), " cores, ", model,
                      ", Linux ", name.release, ", ", (pages * page) >> 30,
                      " GiB");
}

bool Write(const std::string& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  return static_cast<bool>(file);
}

}  // namespace

int main(int argc, char** argv) {
  // Servers in this process run as the real ones do.
  deadline::TuneForServing();
  deadline::ParseFlagsOrExit(
      argc, argv,
      "bench: measures the deadline chain against its limits.\n"
      "Usage: bench [--quick] [--out=DIR] [--bin_dir=DIR] [--h2load=PATH]\n"
      "             [--go_chain=PATH] [--python=PATH] [--h2flood=PATH]\n"
      "             [--edge_render=PATH] [--nginx=PATH] [--only=ids]",
      {__FILE__});
  deadline::bench::Config config;
  config.quick = absl::GetFlag(FLAGS_quick);
  config.bin_dir = absl::GetFlag(FLAGS_bin_dir);
  config.h2load = absl::GetFlag(FLAGS_h2load);
  if (access(config.h2load.c_str(), X_OK) != 0) config.h2load.clear();
  config.go_chain = absl::GetFlag(FLAGS_go_chain);
  config.python = absl::GetFlag(FLAGS_python);
  config.h2flood = absl::GetFlag(FLAGS_h2flood);
  config.edge_render = absl::GetFlag(FLAGS_edge_render);
  config.nginx = absl::GetFlag(FLAGS_nginx);
  const std::string only = absl::GetFlag(FLAGS_only);
  const std::vector<std::string> wanted_list =
      absl::StrSplit(only, ',', absl::SkipEmpty());
  const std::set<std::string> wanted(wanted_list.begin(), wanted_list.end());

  const std::vector<std::pair<
      std::string,
      std::function<deadline::bench::Section(const deadline::bench::Config&)>>>
      benchmarks = {
          {"hop_overhead", deadline::bench::HopOverhead},
          {"throughput", deadline::bench::Throughput},
          {"deadline_fidelity", deadline::bench::DeadlineFidelity},
          {"stop_latency", deadline::bench::StopLatency},
          {"wasted_work", deadline::bench::WastedWork},
          {"budget_accuracy", deadline::bench::BudgetAccuracy},
          {"checking_cost", deadline::bench::CheckingCost},
          {"scale", deadline::bench::Scale},
          {"chain_comparison", deadline::bench::ChainComparison},
          {"flood", deadline::bench::Flood},
          {"stream_cancel", deadline::bench::StreamCancel},
          {"overload", deadline::bench::Overload},
          {"partial", deadline::bench::Partial},
          {"hedging", deadline::bench::Hedging},
          {"ignored_cancel", deadline::bench::IgnoredCancel},
          {"burst", deadline::bench::Burst},
          {"edge", deadline::bench::Edge},
      };
  deadline::bench::RunInfo info;
  info.date =
      absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone());
  info.machine = Machine();
  info.build = "bazel -c opt";
#ifndef NDEBUG
  info.build = "bazel fastbuild (not optimised)";
#endif
  info.quick = config.quick;

  std::vector<deadline::bench::Section> sections;
  for (const auto& [id, run] : benchmarks) {
    if (!wanted.empty() && wanted.count(id) == 0) continue;
    std::fprintf(stderr, "bench: %s...\n", id.c_str());
    sections.push_back(run(config));
  }

  const std::string out = absl::GetFlag(FLAGS_out);
  const std::string markdown = deadline::bench::ToMarkdown(info, sections);
  const bool written =
      Write(out + "/results.md", markdown) &&
      Write(out + "/results.json", deadline::bench::ToJson(info, sections)) &&
      Write(out + "/latency.svg",
            deadline::bench::PlotDistributions(info, sections));
  std::fputs(markdown.c_str(), stdout);
  if (!written) {
    std::fprintf(stderr, "bench: cannot write the results into %s\n",
                 out.c_str());
    return 1;
  }
  std::fprintf(stderr, "bench: results in %s/results.{md,json}, latency.svg\n",
               out.c_str());
  return 0;
}

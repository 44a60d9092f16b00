#ifndef DEADLINE_BENCH_SECTION_H_
#define DEADLINE_BENCH_SECTION_H_

// What every benchmark takes (the run's Config) and gives (a Section of the
// report: rows held to floors, figures, distributions, the analysis).

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/distribution.h"

namespace deadline::bench {

struct Config {
  // Tiny counts and durations: proves every benchmark still runs (the test
  // suite's smoke mode); its numbers mean nothing.
  bool quick = false;
  // Folder holding server/backend/backend and server/frontend/frontend (and
  // bench/bare_chain), for the multi-process benchmarks; empty skips them.
  std::string bin_dir;
  // h2load (Debian's nghttp2-client) for an independent throughput figure;
  // empty skips it.
  std::string h2load;
  // The Go comparison chain (bench/go_chain, built by its build.sh), for
  // the chain comparison; empty skips its rows.
  std::string go_chain;
  // Debian's python3 with python3-h2, and bench/h2flood.py (the hostile
  // HTTP/2 peer), for the flood benchmark; either empty skips it.
  std::string python;
  std::string h2flood;
  // deploy/edge/render.sh and nginx, for the edge proxy benchmark; empty
  // (or no nginx) skips it.
  std::string edge_render;
  std::string nginx = "/usr/sbin/nginx";
};

enum class Verdict { kNone, kMet, kMissed };

struct Row {
  std::string metric;
  std::string value;
  std::string floor;  // The floor it is held to, if any.
  Verdict verdict = Verdict::kNone;
};

// One benchmark's results.
struct Section {
  Section(std::string id, std::string title)
      : id(std::move(id)), title(std::move(title)) {}

  std::string id;
  std::string title;
  std::vector<Row> rows;
  // Latency distributions worth plotting (microseconds).
  std::vector<Distribution> distributions;
  // Raw figures for the JSON file.
  std::map<std::string, double> figures;
  // What the numbers show and what limits them.
  std::string analysis;
};

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_SECTION_H_

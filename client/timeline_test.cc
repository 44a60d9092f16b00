#include "client/timeline.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace deadline {
namespace {

using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixMicros(1'795'400'000'000'000);

ClientView Client(absl::string_view code) {
  ClientView view;
  view.start = kStart;
  view.elapsed = absl::Microseconds(91'300);
  view.deadline = kStart + absl::Milliseconds(100);
  view.code = std::string(code);
  view.request_id = "5f2c9a0e1b7d4c83";
  return view;
}

// The trace of a call that ran out of time at the backend.
deadline::v1::BudgetTrace TimedOutTrace() {
  deadline::v1::BudgetTrace trace;
  trace.set_request_id("5f2c9a0e1b7d4c83");
  deadline::v1::HopTrace& frontend = *trace.add_hops();
  frontend = NewHop("frontend");
  ToProtoTime(kStart + absl::Microseconds(900), frontend.mutable_arrived_at());
  ToProtoTime(kStart + absl::Microseconds(90'800),
              frontend.mutable_finished_at());
  ToProtoTime(kStart + absl::Milliseconds(100), frontend.mutable_deadline());
  ToProtoDuration(absl::Microseconds(99'100),
                  frontend.mutable_budget_at_arrival());
  ToProtoDuration(absl::Microseconds(89'100), frontend.mutable_forwarded());
  frontend.set_code("DEADLINE_EXCEEDED");
  frontend.set_stop("backend failed: DEADLINE_EXCEEDED");
  deadline::v1::HopTrace& backend = *trace.add_hops();
  backend = NewHop("backend");
  backend.set_address("127.0.0.1:50061");
  ToProtoTime(kStart + absl::Microseconds(1'200), backend.mutable_arrived_at());
  ToProtoTime(kStart + absl::Microseconds(88'100),
              backend.mutable_finished_at());
  ToProtoTime(kStart + absl::Microseconds(90'000), backend.mutable_deadline());
  ToProtoDuration(absl::Microseconds(88'800),
                  backend.mutable_budget_at_arrival());
  backend.set_steps_requested(100);
  backend.set_steps_done(8);
  backend.set_code("DEADLINE_EXCEEDED");
  backend.set_stop("at its deadline");
  return trace;
}

TEST(TimelineTest, ALaneForTheClientAndEachHop) {
  const Timeline timeline =
      MakeTimeline("Fetch", Client("DEADLINE_EXCEEDED"), TimedOutTrace());
  ASSERT_EQ(timeline.lanes.size(), 3);
  EXPECT_EQ(timeline.lanes[0].label, "client");
  EXPECT_EQ(timeline.lanes[1].label, "frontend");
  EXPECT_EQ(timeline.lanes[2].label, "backend 127.0.0.1:50061");
  EXPECT_EQ(timeline.lanes[2].end - kStart, absl::Microseconds(88'100));
  EXPECT_EQ(*timeline.lanes[2].deadline - kStart, absl::Milliseconds(90));
  EXPECT_TRUE(timeline.missing.empty());
}

TEST(TimelineTest, TextShowsEachHopsBudgetAndWhyItStopped) {
  const std::string text = FormatTimeline(
      MakeTimeline("Fetch", Client("DEADLINE_EXCEEDED"), TimedOutTrace()));
  EXPECT_THAT(text, HasSubstr("timeline of request 5f2c9a0e1b7d4c83"));
  EXPECT_THAT(text, HasSubstr("client                      0.0 ->    91.3ms  "
                              "DEADLINE_EXCEEDED deadline 100ms; waited "
                              "91.3ms"));
  EXPECT_THAT(text, HasSubstr("99.1ms at arrival, forwarded 89.1ms"));
  EXPECT_THAT(text, HasSubstr("backend 127.0.0.1:50061     1.2 ->    88.1ms"));
  EXPECT_THAT(text, HasSubstr("88.8ms at arrival, 8/100 steps; at its "
                              "deadline"));
}

TEST(TimelineTest, SaysPlainlyWhenTheClientsOwnTimerFiredFirst) {
  const Timeline timeline =
      MakeTimeline("Fetch", Client("DEADLINE_EXCEEDED"), absl::nullopt);
  EXPECT_EQ(timeline.lanes.size(), 1);
  EXPECT_THAT(FormatTimeline(timeline),
              HasSubstr("the client's own deadline fired first"));
}

// Renders, then checks the SVG with a real XML parser and a real renderer.
TEST(TimelineTest, SvgIsWellFormedAndRendersTheLanesAndDeadlines) {
  deadline::v1::BudgetTrace trace = TimedOutTrace();
  ToProtoTime(kStart + absl::Milliseconds(50),
              trace.mutable_hops(1)->mutable_noticed_cancel_at());
  const std::string svg = RenderSvg(
      MakeTimeline("Fetch <tight>", Client("DEADLINE_EXCEEDED"), trace));
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  const std::string svg_path = absl::StrCat(dir, "/timeline.svg");
  const std::string png_path = absl::StrCat(dir, "/timeline.png");
  std::ofstream(svg_path) << svg;

  auto check = testing::Subprocess::Start(
      {"/usr/bin/python3", testing::RunfilePath("client/svg_check.py"),
       svg_path});
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->Wait(absl::Seconds(30)), 0) << check->output();
  EXPECT_THAT(check->output(),
              HasSubstr("lanes=3 bars=3 deadlines=3 client_deadline=1 "
                        "cancels=1 labels=client|frontend|backend "
                        "127.0.0.1:50061"));

  auto render = testing::Subprocess::Start(
      {"/usr/bin/rsvg-convert", "-o", png_path, svg_path});
  ASSERT_NE(render, nullptr) << "rsvg-convert missing: run scripts/deps.sh";
  EXPECT_EQ(render->Wait(absl::Seconds(30)), 0) << render->output();
  std::ifstream png(png_path, std::ios::binary);
  std::string magic(8, '\0');
  png.read(magic.data(), 8);
  EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n");
}

// Runs client/svg_check.py (a real XML parser) over `svg`; returns its
// summary line, or fails the test.
std::string CheckedSvg(const std::string& svg, absl::string_view name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, ".svg");
  std::ofstream(path) << svg;
  auto check = testing::Subprocess::Start(
      {"/usr/bin/python3", testing::RunfilePath("client/svg_check.py"), path});
  EXPECT_NE(check, nullptr);
  if (check == nullptr) return "";
  EXPECT_EQ(check->Wait(absl::Seconds(30)), 0) << check->output();
  return check->output();
}

// A trace as a hostile or broken server might send it.
deadline::v1::BudgetTrace HostileTrace() {
  deadline::v1::BudgetTrace trace = TimedOutTrace();
  trace.set_request_id("id\x1b]0;owned\x07");
  deadline::v1::HopTrace& frontend = *trace.mutable_hops(0);
  frontend.set_address("\x1b[2J\x1b[H");
  frontend.set_code("OK\r\n  backend  0.0 -> 1.0ms  OK");
  frontend.set_stop(
      "done <script>&amp;\x01\xc2\x9b"
      "31m\xe2\x80\xae");
  // Cut by the SVG's 100-character label in the middle of a euro sign.
  trace.mutable_hops(1)->set_stop(std::string(58, 'x') + "\xe2\x82\xac");
  return trace;
}

TEST(TimelineTest, HopTextCannotAddLinesOrEscapeSequences) {
  const std::string text = FormatTimeline(
      MakeTimeline("Fetch", Client("DEADLINE_EXCEEDED"), HostileTrace()));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_THAT(text, HasSubstr("timeline of request id\\x1b]0;owned\\x07 "));
  EXPECT_THAT(text, HasSubstr("frontend \\x1b[2J\\x1b[H"));
  EXPECT_THAT(text, HasSubstr("OK\\r\\n  backend  0.0 -> 1.0ms  OK"));
  EXPECT_THAT(text,
              HasSubstr("done <script>&amp;\\x01\\u{009B}31m\\u{202E}\n"));
}

TEST(TimelineTest, SvgOfHostileTextIsWellFormed) {
  const std::string svg = RenderSvg(
      MakeTimeline("Fetch", Client("DEADLINE_EXCEEDED"), HostileTrace()));
  EXPECT_EQ(svg.find('\x1b'), std::string::npos);
  EXPECT_THAT(svg, HasSubstr("done &lt;script&gt;&amp;amp;\\x01"));
  EXPECT_THAT(CheckedSvg(svg, "hostile"),
              HasSubstr("lanes=3 bars=3 deadlines=3 client_deadline=1 "
                        "cancels=0 labels=client|frontend \\x1b[2J\\x1b[H|"
                        "backend 127.0.0.1:50061"));
}

// A time past absl's range reads as InfiniteFuture(): drawn at the edge,
// where it once made the axis loop forever.
TEST(TimelineTest, SvgOfAHopFinishingAtTheEndOfTimeIsDrawnAtTheEdge) {
  deadline::v1::BudgetTrace trace = TimedOutTrace();
  trace.mutable_hops(1)->mutable_finished_at()->set_seconds(
      std::numeric_limits<int64_t>::max());
  trace.mutable_hops(1)->mutable_finished_at()->set_nanos(2'000'000'000);
  trace.mutable_hops(1)->mutable_deadline()->set_seconds(
      std::numeric_limits<int64_t>::max());
  const Timeline timeline =
      MakeTimeline("Fetch", Client("DEADLINE_EXCEEDED"), trace);
  ASSERT_EQ(timeline.lanes[2].end, absl::InfiniteFuture());
  const std::string svg = RenderSvg(timeline);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // The bar runs to the plot's right edge (230 + 640).
  EXPECT_THAT(svg, HasSubstr("<rect class=\"bar\" x=\"230.0\" "
                             "y=\"150.0\" width=\"640.0\""));
  EXPECT_THAT(CheckedSvg(svg, "end_of_time"), HasSubstr("lanes=3 bars=3"));
}

}  // namespace
}  // namespace deadline

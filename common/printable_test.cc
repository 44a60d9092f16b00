#include "common/printable.h"

#include <string>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(PrintableTest, KeepsPrintableAsciiAndUtf8) {
  EXPECT_EQ(Printable("backend 127.0.0.1:50061; at its deadline"),
            "backend 127.0.0.1:50061; at its deadline");
  EXPECT_EQ(Printable("5\xC2\xB5s \xE2\x86\x92 \xF0\x9F\x95\x90"),
            "5\xC2\xB5s \xE2\x86\x92 \xF0\x9F\x95\x90");  // µ, →, a clock.
  EXPECT_EQ(Printable(""), "");
}

TEST(PrintableTest, EscapesLineBreaksSoOneLineStaysOne) {
  EXPECT_EQ(Printable("done\nfrontend  0.0 -> 1.0ms  OK\r\tfake"),
            "done\\nfrontend  0.0 -> 1.0ms  OK\\r\\tfake");
}

TEST(PrintableTest, EscapesTerminalEscapeSequences) {
  EXPECT_EQ(Printable("\x1b[31mred\x1b[0m\x1b]0;title\x07"),
            "\\x1b[31mred\\x1b[0m\\x1b]0;title\\x07");
  EXPECT_EQ(Printable(std::string("nul\0del\x7f", 8)), "nul\\x00del\\x7f");
  // C1 controls: CSI (U+009B) and NEL (U+0085), as UTF-8.
  EXPECT_EQ(Printable("\xC2\x9B"
                      "31m\xC2\x85"),
            "\\u{009B}31m\\u{0085}");
}

TEST(PrintableTest, EscapesTextReordering) {
  // RIGHT-TO-LEFT OVERRIDE, LINE SEPARATOR, FIRST STRONG ISOLATE.
  EXPECT_EQ(Printable("a\xE2\x80\xAE"
                      "b\xE2\x80\xA8"
                      "c\xE2\x81\xA8"),
            "a\\u{202E}b\\u{2028}c\\u{2068}");
}

TEST(PrintableTest, EscapesBytesThatAreNotUtf8) {
  EXPECT_EQ(Printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(Printable("cut \xE2\x86"), "cut \\xe2\\x86");   // Truncated.
  EXPECT_EQ(Printable("\xC0\xAF"), "\\xc0\\xaf");           // Overlong '/'.
  EXPECT_EQ(Printable("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // A surrogate.
  EXPECT_EQ(Printable("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(Printable("\xEF\xBF\xBF"), "\\u{FFFF}");
}

TEST(PrintableTest, ResultIsPrintableWhateverTheInput) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  const std::string out = Printable(every_byte + every_byte);
  for (char c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u >= 0x20 && u != 0x7F && u < 0x80) << static_cast<int>(u);
  }
}

}  // namespace
}  // namespace deadline

#include "common/flags.h"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <limits>
#include <map>
#include <utility>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace deadline {
namespace {

std::string& Usage() {
  static std::string* const usage = new std::string;
  return *usage;
}

std::string UsageText(absl::string_view usage,
                      std::initializer_list<absl::string_view> flag_files) {
  std::string text = absl::StrCat(usage, "\n\nFlags:\n");
  std::map<absl::string_view, absl::CommandLineFlag*> sorted;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    for (absl::string_view file : flag_files) {
      if (absl::EndsWith(flag->Filename(), file) ||
          absl::EndsWith(file, flag->Filename())) {
        sorted[name] = flag;
      }
    }
  }
  for (const auto& [name, flag] : sorted) {
    absl::StrAppend(&text, "  --", name, "  ", flag->Help(), " (default: \"",
                    flag->DefaultValue(), "\")\n");
  }
  return text;
}

// Applies one argument; returns an error message, or "" on success.
std::string ApplyFlag(absl::string_view arg) {
  if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
    return absl::StrCat("unexpected argument '", arg, "'");
  }
  absl::string_view name = arg;
  absl::string_view value;
  bool has_value = false;
  if (const size_t eq = arg.find('='); eq != absl::string_view::npos) {
    name = arg.substr(0, eq);
    value = arg.substr(eq + 1);
    has_value = true;
  }
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr && !has_value && absl::ConsumePrefix(&name, "no")) {
    flag = absl::FindCommandLineFlag(name);
    if (flag != nullptr && flag->IsOfType<bool>())
      value = "false";
    else
      flag = nullptr;
    has_value = flag != nullptr;
  }
  if (flag == nullptr) return absl::StrCat("unknown flag --", arg);
  if (!has_value) {
    if (!flag->IsOfType<bool>()) {
      return absl::StrCat("flag --", name, " needs a value: --", name, "=...");
    }
    value = "true";
  }
  std::string error;
  if (!flag->ParseFrom(value, &error)) {
    return absl::StrCat("bad value for --", name, ": ", error);
  }
  return "";
}

}  // namespace

bool AbslParseFlag(absl::string_view text, ByteSize* size,
                   std::string* error) {
  int64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K':
        unit = int64_t{1} << 10;
        break;
      case 'M':
        unit = int64_t{1} << 20;
        break;
      case 'G':
        unit = int64_t{1} << 30;
        break;
    }
    if (unit != 1) text.remove_suffix(1);
  }
  int64_t count = 0;
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                                   absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(text, &count) ||
      count > std::numeric_limits<int64_t>::max() / unit) {
    *error = "expected a size such as 0, 4096, 64K, 512M or 2G";
    return false;
  }
  size->bytes = count * unit;
  return true;
}

std::string AbslUnparseFlag(const ByteSize& size) {
  for (const auto& [suffix, shift] : {std::pair<const char*, int>{"G", 30},
                                      {"M", 20},
                                      {"K", 10}}) {
    const int64_t unit = int64_t{1} << shift;
    if (size.bytes != 0 && size.bytes % unit == 0) {
      return absl::StrCat(size.bytes / unit, suffix);
    }
  }
  return absl::StrCat(size.bytes);
}

void ParseFlagsOrExit(int argc, char** argv, absl::string_view usage,
                      std::initializer_list<absl::string_view> flag_files) {
  Usage() = UsageText(usage, flag_files);
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      std::fputs(Usage().c_str(), stdout);
      std::exit(0);
    }
    if (const std::string error = ApplyFlag(arg); !error.empty()) {
      ExitWithUsageError(error);
    }
  }
}

void ExitWithUsageError(absl::string_view error) {
  std::fprintf(stderr, "error: %.*s\n\n%s", static_cast<int>(error.size()),
               error.data(), Usage().c_str());
  std::exit(2);
}

}  // namespace deadline

// Runs a fuzz target's LLVMFuzzerTestOneInput over files, without libFuzzer:
// how the corpus (seeds and every crash found so far) is replayed in
// `bazel test //...` with a compiler that cannot build libFuzzer binaries.
//
// Usage: <target> FILE_OR_DIR...  (a directory stands for its regular
// files, in name order; arguments starting with '-' are ignored, as
// libFuzzer options). Exits 1 if an argument does not exist, a file cannot
// be read, or no input was given; a failing input aborts, as under
// libFuzzer. Prints how many inputs ran.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Appends the files `arg` names to `inputs`; false if it names none.
bool Collect(const std::string& arg, std::vector<std::string>& inputs) {
  std::error_code error;
  if (fs::is_directory(arg, error)) {
    std::vector<std::string> files;
    for (const fs::directory_entry& entry :
         fs::directory_iterator(arg, error)) {
      if (entry.is_regular_file(error)) files.push_back(entry.path());
    }
    if (error) return false;
    std::sort(files.begin(), files.end());
    inputs.insert(inputs.end(), files.begin(), files.end());
    return true;
  }
  if (!fs::is_regular_file(arg, error)) return false;
  inputs.push_back(arg);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!arg.empty() && arg[0] == '-') continue;
    if (!Collect(arg, inputs)) {
      std::fprintf(stderr, "replay: %s: no such file or directory\n",
                   arg.c_str());
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs given\n");
    return 1;
  }
  for (const std::string& path : inputs) {
    std::ifstream file(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    if (!file.is_open() || file.bad()) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 1;
    }
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(),
                 bytes.size());
    // A buffer of exactly the input's size, so a sanitizer sees overreads.
    std::unique_ptr<uint8_t[]> data(new uint8_t[bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), data.get());
    LLVMFuzzerTestOneInput(data.get(), bytes.size());
  }
  std::printf("replay: %zu inputs ran\n", inputs.size());
  return 0;
}

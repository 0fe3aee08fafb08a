// The layering rule: core -> tokenizer -> nn -> data -> train -> quant -> tools (server beside
// tools). A file may include headers of its own layer and of layers to its left, never of a layer
// to its right (nor, for tools and server, of each other). The linker cannot enforce this because
// every layer's include directory is the repository root, so this test reads every source file's
// #include lines and lists each violation as file:line and the include.
//
// A new top-level directory holding C++ sources must be added to kLayers (or, for directories
// that are not part of the library, to kNotLayers): the test fails on one it does not know, so
// a new layer cannot start life outside the rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Layer {
  std::string dir;
  int rank;  // a layer may include layers of lower rank; equal ranks are siblings
};

const std::vector<Layer> kLayers = {
    {"core", 0},  {"tokenizer", 1}, {"nn", 2},    {"data", 3},
    {"train", 4}, {"quant", 5},     {"tools", 6}, {"server", 6},
};

// Top-level directories that are not layers: they may include any layer.
const std::vector<std::string> kNotLayers = {"tests", "bench", "examples", "scripts", "shared"};

bool is_cpp_source(const fs::path& p) {
  static const std::vector<std::string> kExtensions = {".h", ".hpp", ".cpp", ".cc", ".inc"};
  return std::find(kExtensions.begin(), kExtensions.end(), p.extension().string()) !=
         kExtensions.end();
}

std::optional<Layer> layer_named(const std::string& dir) {
  for (const auto& l : kLayers) {
    if (l.dir == dir) return l;
  }
  return std::nullopt;
}

bool may_include(const Layer& from, const Layer& to) {
  return from.dir == to.dir || to.rank < from.rank;
}

// Every violation in one layer's files: "train/data.cpp:5: #include "tools/x.h" (train may not
// include tools)".
std::vector<std::string> violations_in(const fs::path& root, const Layer& layer) {
  // #include "a/b.h" or <a/b.h>; the first path component decides the layer. Relative paths
  // ("../tools/x.h") would bypass the rule, so they are violations too.
  static const std::regex kInclude(R"(^\s*#\s*include\s*["<]([^">]+)[">])");
  std::vector<std::string> found;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root / layer.dir)) {
    if (entry.is_regular_file() && is_cpp_source(entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
      std::smatch m;
      if (!std::regex_search(line, m, kInclude)) continue;
      const std::string target = m[1];
      const std::string where = fs::relative(file, root).string() + ":" + std::to_string(n) +
                                ": #include \"" + target + "\"";
      if (target.rfind("../", 0) == 0) {
        found.push_back(where + " (a relative include that leaves " + layer.dir + "/)");
        continue;
      }
      size_t slash = target.find('/');
      if (slash == std::string::npos) continue;  // a system or third-party header
      const std::string top = target.substr(0, slash);
      if (auto to = layer_named(top)) {
        if (!may_include(layer, *to)) {
          found.push_back(where + " (" + layer.dir + " may not include " + top + ")");
        }
      } else if (std::find(kNotLayers.begin(), kNotLayers.end(), top) != kNotLayers.end()) {
        found.push_back(where + " (the library may not include " + top + "/)");
      }
      // Anything else ("nlohmann/json.hpp", "gtest/gtest.h") is a dependency's header.
    }
  }
  return found;
}

bool holds_cpp_sources(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && is_cpp_source(entry.path())) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "  " + l + "\n";
  return s;
}

TEST(Layering, NoLayerIncludesALayerToItsRight) {
  const fs::path root = KILN_SOURCE_DIR;
  std::vector<std::string> violations;
  for (const auto& layer : kLayers) {
    if (!fs::is_directory(root / layer.dir)) continue;  // quant and server may not exist yet
    auto v = violations_in(root, layer);
    violations.insert(violations.end(), v.begin(), v.end());
  }
  EXPECT_TRUE(violations.empty()) << "includes against the layer order (core -> tokenizer -> nn "
                                     "-> data -> train -> quant -> tools | server):\n"
                                  << join(violations);
}

TEST(Layering, EveryTopLevelSourceDirectoryIsKnown) {
  const fs::path root = KILN_SOURCE_DIR;
  std::vector<std::string> unknown;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || name.rfind("build", 0) == 0) continue;
    if (layer_named(name)) continue;
    if (std::find(kNotLayers.begin(), kNotLayers.end(), name) != kNotLayers.end()) continue;
    if (holds_cpp_sources(entry.path())) unknown.push_back(name + "/");
  }
  std::sort(unknown.begin(), unknown.end());
  EXPECT_TRUE(unknown.empty())
      << "top-level directories with C++ sources that are not in the layer order; add each to "
         "kLayers (or kNotLayers) in tests/layering/layering_test.cpp:\n"
      << join(unknown);
}

}  // namespace

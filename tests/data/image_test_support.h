// Shared by the image tests: where the sample images and PIL's reference tensors are, reading and
// writing a file's bytes, and the fixture lists made with Pillow (tests/data/*.txt).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/io/safetensors_reader.h"
#include "data/image.h"

namespace kiln::data::testing {

inline const std::string kHam = std::string(KILN_SHARED_DIR) + "/data/ham10000/";
inline const std::string kPreprocess =
    std::string(KILN_SHARED_DIR) + "/refs/image-preprocess/preprocess.safetensors";

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// A uint8 [H, W, 3] reference tensor as an Image.
inline Image reference_image(const io::SafetensorsFile& file, const std::string& name) {
  const io::TensorEntry& e = file.at(name);
  EXPECT_EQ(e.shape.size(), 3u);
  Image image(e.shape[1], e.shape[0]);
  image.rgb.assign(e.data, e.data + e.numel);
  return image;
}

// Largest |a - b| over the bytes of two same-sized images (-1 when the sizes differ).
inline int max_abs_diff(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height) return -1;
  int m = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) m = std::max(m, std::abs(a.rgb[i] - b.rgb[i]));
  return m;
}

// The whitespace-separated fields of each line of a fixture list in tests/data (lines starting
// with '#' are comments). A missing file is a failed expectation and no rows.
inline std::vector<std::vector<std::string>> fixture_rows(const std::string& name) {
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/data/" + name);
  EXPECT_TRUE(in) << "tests/data/" << name << " is missing";
  std::vector<std::vector<std::string>> rows;
  std::string line, field;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    rows.emplace_back();
    while (fields >> field) rows.back().push_back(field);
  }
  return rows;
}

}  // namespace kiln::data::testing

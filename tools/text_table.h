// Plain-text tables for terminal output (`kiln runs`): columns padded to their widest cell,
// separated by two spaces; columns of numbers right-aligned.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace kiln::cli

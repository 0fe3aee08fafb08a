// Header handling shared by the CSV and TSV readers: the first record names the columns, and every
// later record must have one cell per column; a row becomes a JSON object of strings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::data {

class TableColumns {
 public:
  bool has_header() const { return !names_.empty(); }
  // Errors (a repeated column name) begin with `where`.
  void set_header(std::vector<std::string> names, const std::string& where);
  // {name: cell} for one data row; the error for a wrong cell count (a RecordError: the next row
  // can still be read) begins with `where`.
  nlohmann::json row(std::vector<std::string>& cells, const std::string& where) const;

 private:
  std::vector<std::string> names_;
};

}  // namespace kiln::data

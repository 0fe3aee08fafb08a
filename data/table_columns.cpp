#include "data/table_columns.h"

#include <set>

#include "core/error.h"
#include "data/record_reader.h"

namespace kiln::data {

void TableColumns::set_header(std::vector<std::string> names, const std::string& where) {
  std::set<std::string> seen;
  for (const auto& n : names) {
    KILN_CHECK(seen.insert(n).second, where, "column \"", n, "\" appears twice in the header");
  }
  names_ = std::move(names);
}

nlohmann::json TableColumns::row(std::vector<std::string>& cells, const std::string& where) const {
  if (cells.size() != names_.size())
    throw RecordError(where + "expected " + std::to_string(names_.size()) +
                      " cells (one per header column), found " + std::to_string(cells.size()));
  nlohmann::json obj = nlohmann::json::object();
  for (size_t i = 0; i < cells.size(); ++i) obj[names_[i]] = std::move(cells[i]);
  return obj;
}

}  // namespace kiln::data

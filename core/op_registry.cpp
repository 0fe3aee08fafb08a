#include "core/op_registry.h"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace kiln {
namespace {
std::vector<const OpInfo*>& table() {
  static std::vector<const OpInfo*> t;
  return t;
}
}  // namespace

void OpRegistry::add(const OpInfo* op) {
  table().push_back(op);
}

std::vector<const OpInfo*> OpRegistry::all() {
  auto t = table();
  std::sort(t.begin(), t.end(), [](auto* a, auto* b) { return std::strcmp(a->name, b->name) < 0; });
  return t;
}

const OpInfo* OpRegistry::find(const std::string& name) {
  for (auto* op : table())
    if (name == op->name) return op;
  return nullptr;
}

}  // namespace kiln

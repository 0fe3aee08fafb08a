#include "train/task.h"

#include <algorithm>

#include "core/error.h"

namespace kiln::train {
namespace {

std::vector<std::shared_ptr<const Task>>& registry() {
  static std::vector<std::shared_ptr<const Task>> all;
  return all;
}

}  // namespace

void register_task(std::shared_ptr<const Task> task) {
  auto& r = registry();
  for (const auto& t : r)
    KILN_CHECK(t->name() != task->name(), "task '", task->name(), "' registered twice");
  r.push_back(std::move(task));
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a->name() < b->name(); });
}

std::vector<std::shared_ptr<const Task>> tasks() {
  return registry();
}

const Task& task_by_name(const std::string& name) {
  std::string names;
  for (const auto& t : registry()) {
    if (t->name() == name) return *t;
    names += (names.empty() ? "" : ", ") + t->name();
  }
  throw Error("unknown task '" + name + "' (tasks: " + names + ")");
}

}  // namespace kiln::train

#include "train/iob.h"

namespace kiln::train {

std::vector<TagSpan> iob2_spans(const std::vector<std::string>& tags) {
  std::vector<TagSpan> spans;
  bool open = false;
  for (size_t i = 0; i < tags.size(); ++i) {
    const std::string& t = tags[i];
    const bool begin = t.rfind("B-", 0) == 0, inside = t.rfind("I-", 0) == 0;
    const std::string type = (begin || inside) ? t.substr(2) : "";
    if (inside && open && spans.back().type == type) {
      spans.back().end_word = i + 1;
      continue;
    }
    open = false;
    if (begin || inside) {
      spans.push_back({type, i, i + 1});
      open = true;
    }
  }
  return spans;
}

}  // namespace kiln::train

// IOB2 span merging shared by `kiln tag` and the seqeval-style metrics: "B-X" opens a span of type
// X, "I-X" continues an open span of type X (and, as seqeval does by default, opens one when no
// span of type X is open), anything else closes the open span.
#pragma once

#include <string>
#include <vector>

namespace kiln::train {

struct TagSpan {
  std::string type;
  size_t first_word, end_word;  // [first, end)
};

std::vector<TagSpan> iob2_spans(const std::vector<std::string>& tags);

}  // namespace kiln::train

// The input fields an inference command (tag, classify) copies to its output line, so that an
// "id" (or anything else) travels with the prediction and outputs can be joined to inputs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/record_reader.h"

namespace kiln::train {

// The output line for `record`: first the record's fields other than `consumed` (the fields the
// predictor read; it writes them back itself, e.g. as "text"), in the record's key order (sorted
// by name: records keep no input order); then the predictor's `output` fields in their own order.
// An input field whose name the output uses (a gold "label" beside the predicted one) is kept as
// "input_<name>" (more "input_" prefixes until the name is free), never dropped or overwritten.
nlohmann::ordered_json with_input_fields(const data::Record& record,
                                         const std::vector<std::string>& consumed,
                                         nlohmann::ordered_json output);

}  // namespace kiln::train

// Size checks of the BERT family that run before a model is built (the family's parameter_count
// and check_tensors hooks, nn/family.h), so that a config which disagrees with the tensors stored
// beside it is refused with the config field and the tensor named, instead of building a different
// or an oversized model.
#pragma once

#include <cstdint>
#include <string>

#include "nn/bert.h"
#include "nn/module.h"

namespace kiln::nn {

// Parameters of the BertModel built from `c` (embeddings, layers, pooler, head), in f64 so that
// no product of configured sizes can overflow; BertConfig::from_json bounds each size.
double bert_parameter_count(const BertConfig& c);

// Stored tensor shapes against `c`: the embeddings' rows (vocab_size, max_position_embeddings,
// type_vocab_size) and width (hidden_size), the layers present (exactly 0..num_layers-1), each
// layer's attention and feed-forward sizes, and the rows of the classifier (id2label). Names may
// carry the task-head prefix ("bert.") or not. Tensors not named here are left to load_state_dict.
void check_bert_tensors(const BertConfig& c, const StateDict& tensors, const std::string& origin);

}  // namespace kiln::nn

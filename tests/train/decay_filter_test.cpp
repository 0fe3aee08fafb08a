// default_decay_filter: the Hugging Face Trainer's choice of parameters without weight decay
// (biases and LayerNorm weights, whatever the family calls them), on real parameter names.
#include <gtest/gtest.h>

#include "train/optimizer.h"

namespace kiln::train {
namespace {

TEST(DecayFilter, ExemptsBiasesAndEveryFamilysLayerNormsOnly) {
  for (const char* exempt : {
           "bert.embeddings.LayerNorm.weight",                     // BERT
           "bert.encoder.layer.0.output.dense.bias",               // any bias
           "distilbert.transformer.layer.0.sa_layer_norm.weight",  // DistilBERT
           "model.encoder.layers.0.self_attn_layer_norm.weight",   // BART
           "model.decoder.layers.2.final_layer_norm.weight",       // BART
           "model.encoder.layernorm_embedding.weight",             // BART / LED embeddings
           "led.decoder.layernorm_embedding.weight",               // LED
       })
    EXPECT_FALSE(default_decay_filter(exempt)) << exempt;
  for (const char* decayed : {
           "bert.encoder.layer.0.attention.self.query.weight",
           "model.shared.weight",
           "model.decoder.layers.0.fc1.weight",
           "features.norm0.weight",  // batch norm: the Trainer decays it
           "classifier.weight",
       })
    EXPECT_TRUE(default_decay_filter(decayed)) << decayed;
}

}  // namespace
}  // namespace kiln::train

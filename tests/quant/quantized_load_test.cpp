// Loading a quantized model file without building the float model first (nn/empty_init.h, used
// by tools/model_loading.cpp): the loaded model gives the logits the old path gave (a model of
// zeros built, the file loaded over it with placeholders, the quantized rows attached), bit for
// bit, for quantized Linear, Embedding and convolution weights; a file missing a tensor is
// refused naming the file and the tensor.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "nn/family.h"
#include "nn/model_file.h"
#include "quant/decisions.h"
#include "quant/eligibility.h"
#include "tests/cli/cli_util.h"
#include "tests/common/reference_checks.h"
#include "tools/model_loading.h"

namespace kiln::testing {
namespace {

nlohmann::json bert_config() {
  return {{"model_type", "bert"},
          {"architectures", {"BertForSequenceClassification"}},
          {"vocab_size", 40},
          {"hidden_size", 32},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"intermediate_size", 64},
          {"max_position_embeddings", 32},
          {"id2label", {{"0", "A"}, {"1", "B"}}}};
}

nlohmann::json densenet_config() {
  return {{"architecture", "torchvision.models.DenseNet"},
          {"stem", "small"},
          {"growth_rate", 8},
          {"block_config", {1, 1}},
          {"num_init_features", 16},
          {"bn_size", 4},
          {"num_classes", 3}};
}

// A float model file of `config` with seeded weights (and batch-norm statistics that are not
// the defaults), then `format` applied to every eligible tensor, the head included.
std::string quantized_file(const nlohmann::json& config, const std::string& format,
                           const std::string& path) {
  const nn::ModelFamily& family = nn::family_for_config(config, "test");
  auto model = family.build(config, "test");
  Generator gen(3);
  model->init_weights(gen);
  {
    NoGradGuard ng;
    for (auto& [name, b] : model->named_buffers()) {
      if (name.find("running_mean") != std::string::npos)
        copy_(*b, mul(Tensor::randn(b->shape(), gen), 0.3));
      if (name.find("running_var") != std::string::npos)
        copy_(*b, add(Tensor::rand(b->shape(), gen), 0.5));
    }
  }
  nn::ModelFile mf;
  mf.family = family.name();
  mf.config = config;
  mf.tensors = model->state_dict();
  auto decisions =
      quant::uniform_decisions(quant::list_candidates(*model, {}, /*include_head=*/true), format);
  nn::write_model_file(path, quant::quantized_model_file(mf, decisions, nlohmann::json::object()));
  return path;
}

int quantized_tensors(const std::string& path) {
  int n = 0;
  for (const auto& [name, info] : nn::read_model_file(path).quantization)
    n += info.quant.has_value();
  return n;
}

// tools/model_loading.cpp's load before nn::EmptyInit, step by step.
std::unique_ptr<nn::Model> load_the_old_way(const std::string& path) {
  nn::ModelFile mf = nn::read_model_file(path);
  auto model = nn::family_by_name(mf.family, path).build(mf.config, path);
  model->load_state_dict(nn::with_float_placeholders(mf.tensors, mf.quantization), false, path);
  nn::attach_quantized_weights(*model, mf.tensors, mf.quantization, path);
  model->eval();
  model->pack_for_inference(/*release_weights=*/true);
  return model;
}

std::vector<float> logits(const nn::Model& m, const nn::NamedTensors& in) {
  NoGradGuard ng;
  return m.forward(in).at("logits").to_floats();
}

const cli::LoadOptions kLoad = {"", "test", /*need_tokenizer=*/false,
                                /*pack_for_inference=*/true, /*verify=*/true};

TEST(QuantizedLoad, GivesTheOldPathsLogitsBitForBit) {
  TempDir tmp;
  const nn::NamedTensors text = {
      {"input_ids", Tensor::from_ints({5, 9, 13, 2, 31, 7, 1, 0}, {2, 4})},
      {"attention_mask", Tensor::from_ints({1, 1, 1, 1, 1, 1, 0, 0}, {2, 4})}};
  Generator g(8);
  const nn::NamedTensors image = {{"pixel_values", Tensor::randn({2, 3, 8, 8}, g)}};
  for (const std::string format : {"int8", "q4_0"}) {
    const std::string bert = quantized_file(bert_config(), format, tmp / (format + "-bert.kiln"));
    EXPECT_GE(quantized_tensors(bert), 10) << format;  // every Linear and the word embedding
    const auto loaded = cli::load_model(bert, kLoad);
    EXPECT_FALSE(loaded.model->training());
    EXPECT_EQ(logits(*loaded.model, text), logits(*load_the_old_way(bert), text)) << format;

    const std::string dn = quantized_file(densenet_config(), format, tmp / (format + "-dn.kiln"));
    EXPECT_GE(quantized_tensors(dn), 4) << format;  // the convolutions but the stem, the head
    EXPECT_EQ(logits(*cli::load_model(dn, kLoad).model, image),
              logits(*load_the_old_way(dn), image))
        << format;
  }
}

TEST(QuantizedLoad, AFileMissingATensorIsRefusedNamingTheFileAndTheTensor) {
  TempDir tmp;
  const std::string path = quantized_file(densenet_config(), "int8", tmp / "dn.kiln");
  nn::ModelFile mf = nn::read_model_file(path);
  mf.tensors.erase(
      "features.denseblock1.denselayer1.norm1.running_var");  // a buffer: load_state_dict lets it
                                                              // pass
  nn::write_model_file(tmp / "no-stats.kiln", mf);
  std::string msg = message_of([&] { cli::load_model(tmp / "no-stats.kiln", kLoad); });
  EXPECT_NE(msg.find(tmp / "no-stats.kiln"), std::string::npos) << msg;
  EXPECT_NE(
      msg.find("the file has no tensor for features.denseblock1.denselayer1.norm1.running_var"),
      std::string::npos)
      << msg;

  mf = nn::read_model_file(path);
  mf.tensors.erase("features.transition1.norm.weight");  // a parameter
  nn::write_model_file(tmp / "no-norm.kiln", mf);
  msg = message_of([&] { cli::load_model(tmp / "no-norm.kiln", kLoad); });
  EXPECT_NE(msg.find(tmp / "no-norm.kiln"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing parameters: features.transition1.norm.weight"), std::string::npos)
      << msg;
}

}  // namespace
}  // namespace kiln::testing

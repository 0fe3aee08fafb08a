// Generation against transformers 4.30.2's generate() (fixtures: ../shared/refs/models/*/
// generate.safetensors and reference.json "generation", see the README's "generate() semantics"):
// for every configuration of every BART fixture, the same token ids batched and one example at a
// time, sequences_scores within 1e-4, and the top 5 of every step's scores (output_scores) within
// 1e-4. Also: sampling by distribution, the logits processors on hand-made cases, and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/ops.h"
#include "nn/family.h"
#include "nn/generation.h"
#include "nn/logits_processors.h"
#include "nn/state_dict_io.h"
#include "tests/common/reference_checks.h"

namespace kiln::nn {
namespace {

using testing::read_json;
using testing::row_of;

const std::string kRefs = std::string(KILN_SHARED_DIR) + "/refs/models/";

struct GenFixture {
  nlohmann::json config, generation_config, generation;
  std::unique_ptr<Model> owner;
  const Seq2SeqLM* model = nullptr;
  StateDict ref, gen;
};

GenFixture load(const std::string& name) {
  GenFixture f;
  const std::string dir = kRefs + name;
  f.config = read_json(dir + "/config.json");
  f.generation_config = read_json(dir + "/generation_config.json");
  f.generation = read_json(dir + "/reference.json")["generation"];
  // Through the family registry: BART and LED alike.
  f.owner = family_for_config(f.config, dir).build(f.config, dir);
  f.owner->load_state_dict(load_safetensors(dir + "/model.safetensors"), true, dir);
  f.owner->eval();
  f.model = dynamic_cast<const Seq2SeqLM*>(f.owner.get());
  f.ref = load_safetensors(dir + "/reference.safetensors");
  f.gen = load_safetensors(dir + "/generate.safetensors");
  return f;
}

GenerationConfig config_for(const GenFixture& f, const std::string& name) {
  GenerationConfig c = model_generation_config(f.config, f.generation_config, "", "fixture");
  c.update_from_json(f.generation[name]["generate_kwargs"], name);
  return c;
}

// The whole padded batch (LED's global_attention_mask too).
NamedTensors batch_input(const GenFixture& f) {
  NamedTensors in{{"input_ids", f.ref.at("input_ids")},
                  {"attention_mask", f.ref.at("attention_mask")}};
  if (f.ref.count("global_attention_mask"))
    in["global_attention_mask"] = f.ref.at("global_attention_mask");
  return in;
}

// Example i alone: its real tokens, no padding.
NamedTensors single_input(const GenFixture& f, int64_t i) {
  const std::vector<int64_t> mask = row_of(f.ref.at("attention_mask"), i);
  NamedTensors out;
  for (const auto& [name, t] : batch_input(f)) {
    const std::vector<int64_t> row = row_of(t, i);
    std::vector<int64_t> real;
    for (size_t j = 0; j < row.size(); ++j)
      if (mask[j]) real.push_back(row[j]);
    out[name] = Tensor::from_ints(real, {1, static_cast<int64_t>(real.size())});
  }
  return out;
}

// The top 5 of a row, best first (equal values in index order).
std::vector<std::pair<float, int64_t>> top5(const float* scores, int64_t vocab) {
  std::vector<std::pair<float, int64_t>> all;
  for (int64_t v = 0; v < vocab; ++v) all.push_back({scores[v], v});
  std::partial_sort(all.begin(), all.begin() + 5, all.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  all.resize(5);
  return all;
}

void expect_close_scores(float got, float want, const std::string& where) {
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << where;
  } else {
    EXPECT_NEAR(got, want, 1e-4) << where;
  }
}

class GenerationReference : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerationReference, EveryConfigMatchesTransformersBatchedAndSingle) {
  if (!std::filesystem::exists(kRefs + GetParam())) GTEST_SKIP() << "fixtures not present";
  const GenFixture f = load(GetParam());
  const int64_t batch = f.ref.at("input_ids").size(0);
  ASSERT_FALSE(f.generation.empty());
  for (const auto& [name, entry] : f.generation.items()) {
    SCOPED_TRACE(GetParam() + " " + name);
    const GenerationConfig c = config_for(f, name);
    const bool beam = c.num_beams > 1;
    const int64_t nrs = c.num_return_sequences;
    const NamedTensors batched = batch_input(f);
    const auto got_batched = generate(*f.model, batched, c);
    ASSERT_EQ(static_cast<int64_t>(got_batched.size()), batch);
    const Tensor want_batched = f.gen.at(name + ".batched.sequences");
    for (int64_t i = 0; i < batch; ++i) {
      const std::string key = name + ".single." + std::to_string(i);
      const Tensor want = f.gen.at(key + ".sequences");
      ASSERT_EQ(static_cast<int64_t>(got_batched[i].size()), nrs);

      // One example at a time, recording every step's scores.
      std::vector<std::vector<float>> steps;  // per step: the rows' scores, concatenated
      GenerationHooks hooks;
      hooks.on_scores = [&](int64_t step, int64_t, const float* s, int64_t vocab) {
        if (static_cast<int64_t>(steps.size()) <= step) steps.resize(step + 1);
        steps[step].insert(steps[step].end(), s, s + vocab);
      };
      const auto got_single = generate(*f.model, single_input(f, i), c, hooks);
      ASSERT_EQ(got_single.size(), 1u);
      for (int64_t j = 0; j < nrs; ++j) {
        const std::vector<int64_t> want_ids = row_of(want, j);
        EXPECT_EQ(got_single[0][j].ids, want_ids) << "example " << i << " sequence " << j;
        EXPECT_EQ(got_batched[i][j].ids, want_ids) << "batched, example " << i << " sequence " << j;
        // The padded batch: the same ids, then pad.
        const std::vector<int64_t> padded = row_of(want_batched, i * nrs + j);
        for (size_t t = 0; t < padded.size(); ++t)
          EXPECT_EQ(padded[t], t < want_ids.size() ? want_ids[t] : c.effective_pad_token_id());
        if (beam) {
          const float want_score = f.gen.at(key + ".sequences_scores").to_floats()[j];
          EXPECT_NEAR(got_single[0][j].score, want_score, 1e-4) << "example " << i;
          EXPECT_NEAR(got_batched[i][j].score,
                      f.gen.at(name + ".batched.sequences_scores").to_floats()[i * nrs + j], 1e-4);
        } else {
          EXPECT_TRUE(std::isnan(got_single[0][j].score));
        }
      }
      // Step scores: [steps, 5] greedy, [steps, beams, 5] beam search.
      const Tensor values = f.gen.at(key + ".step_scores_top5_values");
      const Tensor ids = f.gen.at(key + ".step_scores_top5_ids");
      const std::vector<float> v = values.to_floats();
      const std::vector<int64_t> id = ids.to_ints();
      const int64_t rows_per_step = beam ? c.num_beams : 1, vocab = f.model->vocab_size();
      ASSERT_EQ(static_cast<int64_t>(steps.size()), values.size(0)) << "example " << i;
      for (int64_t s = 0; s < values.size(0); ++s) {
        ASSERT_EQ(static_cast<int64_t>(steps[s].size()), rows_per_step * vocab);
        for (int64_t r = 0; r < rows_per_step; ++r) {
          const auto top = top5(steps[s].data() + r * vocab, vocab);
          for (int64_t k = 0; k < 5; ++k) {
            const size_t at = static_cast<size_t>((s * rows_per_step + r) * 5 + k);
            const std::string where = "example " + std::to_string(i) + " step " +
                                      std::to_string(s) + " row " + std::to_string(r);
            expect_close_scores(top[k].first, v[at], where);
            // Ids of tied values (-inf after a processor, exact ties) are arbitrary.
            const bool tied =
                (k > 0 && v[at - 1] - v[at] < 1e-5) || (k < 4 && v[at] - v[at + 1] < 1e-5);
            if (!tied && std::isfinite(v[at])) {
              EXPECT_EQ(top[k].second, id[at]) << where;
            }
          }
        }
      }
    }
    std::cout << GetParam() << " " << name << ": " << batch
              << " examples match batched and single\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GenerationReference,
                         ::testing::Values("bart-rand", "bart-denoise", "distilbart-asym",
                                           "led-tiny"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace kiln::nn

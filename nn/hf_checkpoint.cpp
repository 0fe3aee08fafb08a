#include "nn/hf_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "core/sha256.h"
#include "nn/state_dict_io.h"

namespace kiln::nn {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  KILN_CHECK(in, p.string(), ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(p.string() + ": invalid JSON (" + e.what() + ")");
  }
}

// A torch.save() pickle (torchvision/timm .pth or .pt) cannot be read without a pickle
// interpreter: say how to turn it into the safetensors file kiln reads.
void refuse_pickles(const fs::path& dir, const std::string& dir_str) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string ext = e.path().extension().string();
    if (ext != ".pth" && ext != ".pt") continue;
    const std::string name = e.path().filename().string();
    throw Error(dir_str + ": " + name +
                " is a PyTorch pickle, which kiln does not read (unpickling runs arbitrary code). "
                "Convert it to model.safetensors in this directory with Python: import torch; "
                "from safetensors.torch import save_file; sd = torch.load('" +
                name +
                "', map_location='cpu'); sd = sd.get('state_dict', sd); save_file({k: "
                "v.contiguous() for k, v in sd.items()}, 'model.safetensors')");
  }
}

}  // namespace

HfCheckpoint read_hf_checkpoint(const std::string& dir_str) {
  const fs::path dir(dir_str);
  KILN_CHECK(fs::is_directory(dir), dir_str,
             ": not a directory (expected a Hugging Face checkpoint "
             "directory with config.json and *.safetensors)");
  HfCheckpoint ck;
  ck.dir = dir_str;
  const fs::path config = dir / "config.json";
  KILN_CHECK(fs::exists(config), dir_str, ": no config.json");
  ck.config = read_json(config);
  ck.file_sha256["config.json"] = sha256_file(config.string());
  if (const fs::path generation = dir / "generation_config.json"; fs::exists(generation)) {
    ck.generation_config = read_json(generation);
    KILN_CHECK(ck.generation_config.is_object(), generation.string(), ": must hold a JSON object");
    ck.file_sha256["generation_config.json"] = sha256_file(generation.string());
  }

  std::vector<std::string> shards;
  const fs::path single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    const auto idx = read_json(index);
    KILN_CHECK(idx.contains("weight_map") && idx["weight_map"].is_object(), index.string(),
               ": missing 'weight_map' object");
    std::set<std::string> files;
    for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
      KILN_CHECK(it.value().is_string(), index.string(), ": weight_map['", it.key(),
                 "'] must be a file name");
      files.insert(it.value().get<std::string>());
    }
    shards.assign(files.begin(), files.end());
    ck.file_sha256["model.safetensors.index.json"] = sha256_file(index.string());
  } else if (fs::exists(single)) {
    shards.push_back("model.safetensors");
  } else {
    refuse_pickles(dir, dir_str);
    const bool has_bin = fs::exists(dir / "pytorch_model.bin");
    throw Error(dir_str + ": no model.safetensors or model.safetensors.index.json" +
                (has_bin ? std::string(" (pytorch_model.bin found: re-save the model with "
                                       "save_pretrained(..., safe_serialization=True))")
                         : std::string("")));
  }
  for (const auto& name : shards) {
    KILN_CHECK(name.find('/') == std::string::npos && name.find("..") == std::string::npos, dir_str,
               ": shard name '", name, "' must be a plain file name");
    const fs::path p = dir / name;
    KILN_CHECK(fs::exists(p), dir_str, ": shard '", name, "' listed in the index is missing");
    for (auto& [k, t] : load_safetensors(p.string())) {
      KILN_CHECK(!ck.tensors.count(k), p.string(), ": tensor '", k, "' appears in two shards");
      ck.tensors[k] = t;
    }
    ck.file_sha256[name] = sha256_file(p.string());
  }
  return ck;
}

}  // namespace kiln::nn

#include "tools/forward_file.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "core/autograd.h"
#include "core/io/safetensors.h"
#include "nn/state_dict_io.h"
#include "tools/model_loading.h"

namespace kiln::cli {
namespace {

// At most 20 names (a deep model has an output per layer).
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < 20; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > 20) out += ", ... and " + std::to_string(items.size() - 20) + " more";
  return out;
}

bool is_integer(io::FileDType t) {
  using F = io::FileDType;
  return t == F::BOOL || t == F::U8 || t == F::I8 || t == F::I16 || t == F::U16 || t == F::I32 ||
         t == F::U32 || t == F::I64 || t == F::U64;
}

// One element of an integer tensor in the file, widened to int64 (the file is little-endian, as
// the format requires, and so is every machine kiln runs on).
int64_t read_integer(const uint8_t* p, io::FileDType t, const std::string& where) {
  using F = io::FileDType;
  auto load = [p](auto v) {
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  switch (t) {
    case F::BOOL:
    case F::U8:
      return load(uint8_t{});
    case F::I8:
      return load(int8_t{});
    case F::I16:
      return load(int16_t{});
    case F::U16:
      return load(uint16_t{});
    case F::I32:
      return load(int32_t{});
    case F::U32:
      return load(uint32_t{});
    case F::I64:
      return load(int64_t{});
    case F::U64: {
      const uint64_t v = load(uint64_t{});
      KILN_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where, ": value ",
                 v, " does not fit in int64");
      return static_cast<int64_t>(v);
    }
    default:
      break;
  }
  throw Error(where + ": not an integer tensor");
}

// The model's inputs from a safetensors file: integer tensors (ids, masks; any width, or bool)
// become I64, which is what token models index with; floating tensors keep their dtype. A name
// the model does not take is an error listing the names it does.
nn::NamedTensors read_inputs(const std::string& path, const nn::ModelSpec& spec) {
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  nn::NamedTensors inputs;
  for (const io::TensorEntry& e : file.entries()) {
    const std::string where = path + ": input '" + e.name + "'";
    KILN_CHECK(std::find(spec.input_names.begin(), spec.input_names.end(), e.name) !=
                   spec.input_names.end(),
               path, ": '", e.name, "' is not an input of this ",
               spec.architecture.empty() ? spec.model_type : spec.architecture,
               " (inputs: ", join(spec.input_names), ")");
    if (is_integer(e.dtype)) {
      std::vector<int64_t> values(static_cast<size_t>(e.numel));
      const size_t width = io::file_dtype_size(e.dtype);
      for (size_t i = 0; i < values.size(); ++i)
        values[i] = read_integer(e.data + i * width, e.dtype, where);
      inputs[e.name] = Tensor::from_ints(values, e.shape);
      continue;
    }
    const auto dtype = e.kiln_dtype();
    KILN_CHECK(dtype.has_value(), where, " has dtype ", io::file_dtype_name(e.dtype),
               ", which kiln cannot compute with");
    Tensor t = Tensor::empty(e.shape, *dtype);
    std::memcpy(t.raw_data(), e.data, e.nbytes());  // a copy: the file may not be aligned
    inputs[e.name] = t;
  }
  return inputs;
}

// "a,b, c" -> {a, b, c}; empty items are a usage error.
}  // namespace

void forward_file(const std::string& model_path, const std::string& in_path,
                  const std::string& out_path, const ForwardFileOptions& options) {
  const std::vector<std::string>& wanted = options.outputs;
  const bool train_mode = options.train_mode;
  // Packed weights serve eval-mode forwards only; training mode keeps the plain ones.
  LoadedModel m = load_model(model_path, {"", "kiln forward", false, !train_mode, options.verify});
  if (train_mode) m.model->train(true);  // and no dropout generator: dropout stays off
  const nn::NamedTensors inputs = read_inputs(in_path, m.spec);

  // Hidden states cost memory for every layer: computed only when some are written.
  bool hidden = wanted.empty();
  // (hidden_states.N, or an encoder-decoder's encoder_hidden_states.N / decoder_hidden_states.N)
  for (const auto& name : wanted) hidden |= name.find("hidden_states.") != std::string::npos;
  auto run = [&](bool with_hidden) {
    NoGradGuard no_grad;
    try {
      return m.model->forward(inputs, {with_hidden});
    } catch (const Error& e) {
      throw Error(in_path + ": " + e.what());
    }
  };
  const nn::NamedTensors outputs = run(hidden);

  nn::StateDict selected;
  for (const auto& name : wanted) {
    auto it = outputs.find(name);
    if (it == outputs.end()) {
      // List what this model gives, hidden states included (run again only for this message).
      std::vector<std::string> names;
      for (const auto& [n, t] : hidden ? outputs : run(true)) names.push_back(n);
      throw Error("output '" + name + "' is not an output of this model (outputs: " + join(names) +
                  ")");
    }
    selected[name] = it->second;
  }
  if (wanted.empty()) selected = outputs;
  nn::save_safetensors(out_path, selected, {{"kiln.model", m.path}});
}

}  // namespace kiln::cli

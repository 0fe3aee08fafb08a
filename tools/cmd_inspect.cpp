// kiln inspect FILE: what is in a safetensors / kiln model file, without loading it. The file is
// validated in full first, so inspect doubles as a checker: a corrupt file is an error (exit 1).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/io/safetensors_reader.h"
#include "core/io/text_escape.h"
#include "nn/family.h"
#include "tools/args.h"
#include "tools/command.h"
#include "tools/quantization_summary.h"

namespace {

using kiln::io::escape_for_display;
using kiln::io::SafetensorsFile;
using kiln::io::TensorEntry;

// Metadata values can be whole configs or tokenizers; the table shows this much of each.
constexpr size_t kMetadataPreview = 100;

struct Totals {
  uint64_t tensors = 0, parameters = 0, bytes = 0;
  void add(const TensorEntry& t) {
    ++tensors;
    parameters += static_cast<uint64_t>(t.numel);
    bytes += t.nbytes();
  }
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::map<std::string, Totals> totals_by_dtype(const SafetensorsFile& f, Totals& all) {
  std::map<std::string, Totals> by;
  for (const auto& t : f.entries()) {
    all.add(t);
    by[kiln::io::file_dtype_name(t.dtype)].add(t);
  }
  return by;
}

void print_json(const SafetensorsFile& f) {
  using ojson = nlohmann::ordered_json;
  ojson out;
  const auto& h = f.header();
  out["file"] = f.path();
  out["file_size"] = h.file_size;
  out["header_size"] = h.header_size;
  out["data_offset"] = h.data_offset;
  out["metadata"] = ojson::object();
  for (const auto& [k, v] : f.metadata()) out["metadata"][k] = v;
  out["tensors"] = ojson::array();
  for (const auto& t : f.entries()) {
    const auto kd = t.kiln_dtype();
    out["tensors"].push_back({{"name", t.name},
                              {"dtype", kiln::io::file_dtype_name(t.dtype)},
                              {"kiln_dtype", kd ? ojson(kiln::dtype_name(*kd)) : ojson(nullptr)},
                              {"shape", t.shape},
                              {"parameters", t.numel},
                              {"bytes", t.nbytes()},
                              {"data_offsets", {t.data_begin, t.data_end}}});
  }
  Totals all;
  const auto by = totals_by_dtype(f, all);
  ojson by_json = ojson::object();
  for (const auto& [name, tot] : by)
    by_json[name] = {
        {"tensors", tot.tensors}, {"parameters", tot.parameters}, {"bytes", tot.bytes}};
  out["totals"] = {{"tensors", all.tensors},
                   {"parameters", all.parameters},
                   {"bytes", all.bytes},
                   {"by_dtype", by_json}};
  // Quantized / compressed kiln files: each tensor's format and the size against f32.
  if (auto q = kiln::cli::quantization_summary(f); !q.is_null()) out["quantization"] = q;
  // Strings from the file were UTF-8-checked by the parser; the path may not be, so replace.
  std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

// For a kiln model file: what the model is (family, architecture, sizes, labels, tokenizer),
// read from its kiln.* metadata rather than shown as raw JSON.
void print_kiln_model(const SafetensorsFile& f) {
  const auto& meta = f.metadata();
  auto get = [&](const char* k) -> std::string {
    auto it = meta.find(k);
    return it == meta.end() ? "" : it->second;
  };
  if (get("kiln.format").empty()) return;
  std::cout << "kiln model (format " << escape_for_display(get("kiln.format"), 20) << ")\n"
            << "  family        " << escape_for_display(get("kiln.family"), 40) << "\n";
  try {
    const auto cfg = nlohmann::json::parse(get("kiln.config"));
    const auto& family = kiln::nn::family_by_name(get("kiln.family"), "kiln.family");
    {
      const auto c = family.parse_config(cfg, "kiln.config");
      for (const auto& [key, value] : c.summary) {
        std::string label = key;
        label.resize(std::max<size_t>(label.size() + 1, 14), ' ');
        std::cout << "  " << label << value << "\n";
      }
      if (!c.labels.empty()) {
        std::cout << "  labels        ";
        for (size_t i = 0; i < c.labels.size(); ++i)
          std::cout << (i ? ", " : "") << i << "=" << escape_for_display(c.labels[i], 40);
        std::cout << "\n";
      }
    }
  } catch (const std::exception& e) {
    std::cout << "  config        invalid: " << escape_for_display(e.what(), 200) << "\n";
  }
  const std::string tok = get("kiln.tokenizer");
  std::cout << "  tokenizer     "
            << (tok.empty() ? std::string("none")
                            : "embedded (" + std::to_string(tok.size()) + " bytes)")
            << "\n";
  try {
    const auto prov = nlohmann::json::parse(get("kiln.provenance"));
    if (prov.contains("storage_dtype"))
      std::cout << "  storage       " << escape_for_display(prov.value("storage_dtype", ""), 20)
                << "\n";
  } catch (const std::exception&) {
  }
  std::cout << "\n";
}

void print_table(const SafetensorsFile& f, bool full, bool summary) {
  const auto& h = f.header();
  std::cout << "file: " << escape_for_display(f.path()) << "\n"
            << "size: " << h.file_size << " bytes (header " << h.header_size
            << " bytes, data from byte " << h.data_offset << ")\n\n";
  print_kiln_model(f);
  kiln::cli::print_quantization_summary(f, /*per_tensor=*/!summary, std::cout);
  if (summary) {
    Totals all;
    totals_by_dtype(f, all);
    std::cout << all.tensors << " tensors, " << all.parameters << " parameters, " << all.bytes
              << " bytes of tensor data\n";
    return;
  }

  std::cout << "metadata (" << f.metadata().size() << (f.metadata().size() == 1 ? " key" : " keys")
            << ")\n";
  size_t key_w = 0;
  for (const auto& [k, v] : f.metadata()) key_w = std::max(key_w, escape_for_display(k, 60).size());
  for (const auto& [k, v] : f.metadata()) {
    const std::string key = escape_for_display(k, 60);
    std::cout << "  " << key << std::string(key_w - key.size() + 2, ' ')
              << escape_for_display(v, full ? 0 : kMetadataPreview) << "\n";
  }

  struct Row {
    std::string name, dtype, shape, params, bytes;
  };
  std::vector<Row> rows;
  rows.push_back({"name", "dtype", "shape", "parameters", "bytes"});
  for (const auto& t : f.entries())
    rows.push_back({escape_for_display(t.name, 100), kiln::io::file_dtype_name(t.dtype),
                    shape_text(t.shape), std::to_string(t.numel), std::to_string(t.nbytes())});
  Totals all;
  const auto by = totals_by_dtype(f, all);
  rows.push_back({"total", "", "", std::to_string(all.parameters), std::to_string(all.bytes)});

  size_t w[5] = {0, 0, 0, 0, 0};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.name.size());
    w[1] = std::max(w[1], r.dtype.size());
    w[2] = std::max(w[2], r.shape.size());
    w[3] = std::max(w[3], r.params.size());
    w[4] = std::max(w[4], r.bytes.size());
  }
  const auto pad = [](const std::string& s, size_t width, bool right) {
    const std::string fill(width > s.size() ? width - s.size() : 0, ' ');
    return right ? fill + s : s + fill;
  };
  std::cout << "\ntensors (" << f.entries().size() << ", in header order)\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (i + 1 == rows.size()) {
      std::cout << "  " << std::string(w[0] + w[1] + w[2] + w[3] + w[4] + 8, '-') << "\n";
    }
    std::cout << "  " << pad(r.name, w[0], false) << "  " << pad(r.dtype, w[1], false) << "  "
              << pad(r.shape, w[2], false) << "  " << pad(r.params, w[3], true) << "  "
              << pad(r.bytes, w[4], true) << "\n";
  }
  std::cout << "\n"
            << all.tensors << " tensors, " << all.parameters << " parameters, " << all.bytes
            << " bytes of tensor data\n";
  for (const auto& [name, tot] : by)
    std::cout << "  " << name << ": " << tot.tensors << " tensors, " << tot.parameters
              << " parameters, " << tot.bytes << " bytes\n";
}

int run_inspect(const std::vector<std::string>& args) {
  kiln::cli::ArgParser p("inspect", "[--json] [--full] [--summary] FILE");
  p.positional("FILE", "a safetensors file (a kiln model or any Hugging Face .safetensors)")
      .flag("json",
            "print one JSON object instead of a table: file, file_size, header_size, data_offset, "
            "metadata (values in full), tensors [{name, dtype, kiln_dtype, shape, parameters, "
            "bytes, data_offsets}], totals {tensors, parameters, bytes, by_dtype}")
      .flag("full", "in the table, print metadata values in full (by default values longer than " +
                        std::to_string(kMetadataPreview) + " bytes are cut, with their length)")
      .flag("summary", "print the file and model summary and the totals, without the tables");
  p.parse(args);
  if (p.help_requested()) {
    std::cout << "kiln inspect: list the metadata and tensors of a safetensors file.\n"
                 "The whole header is validated first; a corrupt or hostile file is an error (exit "
                 "1).\nControl characters and invalid UTF-8 in names and metadata are shown as "
                 "\\xNN in the table.\n\n"
              << p.help_text();
    return 0;
  }
  const auto file = SafetensorsFile::open(p.get("FILE"));
  if (p.get_flag("json")) {
    print_json(file);
  } else {
    print_table(file, p.get_flag("full"), p.get_flag("summary"));
  }
  return 0;
}

}  // namespace

KILN_COMMAND("inspect", "show the metadata and tensors of a safetensors model file", run_inspect);

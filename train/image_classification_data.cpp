#include "train/image_classification_data.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "data/image_decode.h"

namespace kiln::train {

namespace {

double option_number(const std::map<std::string, std::string>& options, const std::string& name,
                     double def, double lo, double hi) {
  const auto it = options.find(name);
  if (it == options.end()) return def;
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument(it->second);
  } catch (const std::exception&) {
    throw Error("--" + name + " expects a number, got '" + it->second + "'");
  }
  KILN_CHECK(v >= lo && v <= hi, "--", name, " must be in [", lo, ", ", hi, "], got ", v);
  return v;
}

std::string option_string(const std::map<std::string, std::string>& options,
                          const std::string& name, const std::string& def) {
  const auto it = options.find(name);
  return it == options.end() ? def : it->second;
}

// A label or group value as a name: strings as they are, integers written out.
std::string value_name(const nlohmann::json& v, const std::string& where,
                       const std::string& field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  throw Error(where + "field \"" + field + "\" must be a string or an integer, got " + v.dump());
}

bool is_class_id(const std::string& s) {
  return !s.empty() && s.size() < 7 && std::all_of(s.begin(), s.end(), ::isdigit) &&
         (s == "0" || s[0] != '0');
}

}  // namespace

ImageTaskOptions ImageTaskOptions::from(const std::map<std::string, std::string>& options) {
  ImageTaskOptions o;
  o.image_field = option_string(options, "image-field", o.image_field);
  KILN_CHECK(!o.image_field.empty(), "--image-field must name a field");
  o.image_dir = option_string(options, "image-dir", "");
  o.group_field = option_string(options, "group-field", "");
  std::stringstream ss(option_string(options, "metadata-fields", ""));
  std::string item;
  std::set<std::string> seen;
  while (std::getline(ss, item, ',')) {
    KILN_CHECK(!item.empty() && seen.insert(item).second,
               "--metadata-fields must list distinct field names separated by commas, got '",
               option_string(options, "metadata-fields", ""), "'");
    o.metadata_fields.push_back(item);
  }
  o.crop_scale_min = option_number(options, "crop-scale", o.crop_scale_min, 0.0, 1.0);
  o.hflip = option_number(options, "hflip", o.hflip, 0.0, 1.0);
  o.vflip = option_number(options, "vflip", o.vflip, 0.0, 1.0);
  o.image_cache_mb = static_cast<int64_t>(option_number(
      options, "image-cache-mb", static_cast<double>(o.image_cache_mb), 0.0, 1 << 24));
  return o;
}

std::shared_ptr<const data::Image> ImageClassificationData::image(size_t i) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = cache_.find(i); it != cache_.end()) return it->second;
  }
  KILN_CHECK(i < image_paths.size(), where(i),
             "no image for this example (the data is not encoded "
             "for a model that takes images)");
  std::shared_ptr<const data::Image> img;
  try {
    img = std::make_shared<const data::Image>(data::decode_image_file(image_paths[i]));
  } catch (const Error& e) {
    throw Error(where(i) + e.what());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  const auto bytes = static_cast<int64_t>(img->rgb.size());
  if (cached_bytes_ + bytes <= cache_budget_bytes && !cache_.count(i)) {
    cache_[i] = img;
    cached_bytes_ += bytes;
  }
  return img;
}

std::unique_ptr<ImageClassificationData> read_image_rows(const std::string& path,
                                                         const std::string& label_field,
                                                         const ImageTaskOptions& options,
                                                         data::Format format) {
  auto out = std::make_unique<ImageClassificationData>();
  out->path = path;
  out->cache_budget_bytes = options.image_cache_mb << 20;
  auto reader = data::RecordReader::open(path, format);
  while (auto record = reader->next()) {
    ImageRow row;
    row.line = record->line;
    const std::string at = record->where();
    row.label = value_name(record->field(label_field), at, label_field);
    KILN_CHECK(!row.label.empty(), at, "field \"", label_field, "\" is empty");
    if (!options.group_field.empty()) {
      row.group = value_name(record->field(options.group_field), at, options.group_field);
      KILN_CHECK(!row.group.empty(), at, "field \"", options.group_field, "\" is empty");
    }
    for (const auto& f : options.metadata_fields) record->field(f);  // present (may be empty)
    row.fields = std::move(record->fields);
    out->rows.push_back(std::move(row));
  }
  KILN_CHECK(!out->rows.empty(), path, ": no examples");
  return out;
}

std::vector<std::string> image_labels_from_rows(const ImageClassificationData& data) {
  std::set<std::string> names;
  bool ids = true;
  int64_t max_id = -1;
  for (const auto& r : data.rows) {
    names.insert(r.label);
    ids = ids && is_class_id(r.label);
    if (ids) max_id = std::max<int64_t>(max_id, std::stoll(r.label));
  }
  std::vector<std::string> out;
  if (ids) {
    for (int64_t i = 0; i <= max_id; ++i) out.push_back(std::to_string(i));
    return out;
  }
  return {names.begin(), names.end()};
}

nn::MetadataEncoding learn_metadata_encoding(const ImageClassificationData& data,
                                             const std::vector<std::string>& fields) {
  KILN_CHECK(!fields.empty(), "no metadata fields to learn an encoding of");
  nn::MetadataEncoding e;
  e.age_field = fields[0];
  double sum = 0;
  int64_t n = 0;
  std::vector<double> values;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const auto& f = data.rows[i].fields;
    const nlohmann::json v = numeric_metadata_value(
        f.contains(e.age_field) ? f[e.age_field] : nlohmann::json(), data.where(i), e.age_field);
    if (v.is_null()) continue;
    values.push_back(v.get<double>());
    sum += values.back();
    ++n;
  }
  e.age_mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double var = 0;
  for (double v : values) var += (v - e.age_mean) * (v - e.age_mean);
  // Population standard deviation (ddof = 0), as the reference encoding's constants; a constant
  // (or absent) field keeps 1 so that the encoding stays finite.
  const double sd = n > 0 ? std::sqrt(var / static_cast<double>(n)) : 0.0;
  e.age_std = sd > 0 ? sd : 1.0;
  for (size_t k = 1; k < fields.size(); ++k) {
    std::set<std::string> seen;
    for (const auto& r : data.rows) {
      const auto it = r.fields.find(fields[k]);
      std::string v = it == r.fields.end() ? "" : categorical_metadata_value(*it);
      seen.insert(v.empty() ? "unknown" : v);
    }
    e.categorical.push_back({fields[k], {seen.begin(), seen.end()}});
  }
  return e;
}

std::unique_ptr<ImageClassificationData> split_image_rows(ImageClassificationData& data,
                                                          double fraction, uint64_t seed) {
  KILN_CHECK(fraction > 0 && fraction < 1, "--eval-split must be in (0, 1), got ", fraction);
  // Groups in order of first appearance; a row without a group is its own group.
  std::map<std::string, size_t> group_of;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const std::string key =
        data.rows[i].group.empty() ? "\x01row" + std::to_string(i) : data.rows[i].group;
    auto [it, added] = group_of.emplace(key, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  KILN_CHECK(groups.size() >= 2, data.path, ": --eval-split needs at least two ",
             data.rows.front().group.empty() ? "rows" : "groups", " to split");
  std::vector<size_t> order(groups.size());
  for (size_t g = 0; g < order.size(); ++g) order[g] = g;
  Generator gen(seed + 4);  // its own stream (init: seed, shuffle: +1, dropout: +2, augment: +3)
  for (size_t g = order.size(); g > 1; --g) std::swap(order[g - 1], order[gen.next_u64() % g]);
  const auto want = static_cast<size_t>(
      std::max(1.0, std::round(fraction * static_cast<double>(data.rows.size()))));
  std::vector<bool> held(data.rows.size(), false);
  size_t taken = 0;
  for (size_t k = 0; k < order.size() && taken < want; ++k) {
    if (k + 1 == order.size()) break;  // keep at least one group for training
    for (size_t i : groups[order[k]]) held[i] = true;
    taken += groups[order[k]].size();
  }
  auto eval = std::make_unique<ImageClassificationData>();
  eval->path = data.path;
  eval->cache_budget_bytes = data.cache_budget_bytes;
  std::vector<ImageRow> kept;
  for (size_t i = 0; i < data.rows.size(); ++i)
    (held[i] ? eval->rows : kept).push_back(std::move(data.rows[i]));
  data.rows = std::move(kept);
  return eval;
}

}  // namespace kiln::train

#include "train/data.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"

namespace kiln::train {
namespace {

std::string where(const std::string& path, size_t line) {
  return path + ":" + std::to_string(line) + ": ";
}

RawLabel parse_label(const nlohmann::json& v, const std::string& what, const std::string& at) {
  RawLabel l;
  if (v.is_string()) {
    l.name = v.get<std::string>();
  } else if (v.is_number_integer()) {
    l.is_int = true;
    l.value = v.get<int64_t>();
    l.name = std::to_string(l.value);
  } else {
    throw Error(at + what + " must be a string or an integer label, got " + v.dump());
  }
  return l;
}

// Text + character spans -> words with IOB2 tags.
void spans_to_tags(const nlohmann::json& spans, const std::string& text, const std::string& field,
                   tok::WordSplitter splitter, const tok::Tokenizer* tokenizer,
                   const std::string& at, RawRow& r) {
  KILN_CHECK(tokenizer || splitter != tok::WordSplitter::Tokenizer, at,
             "text with spans needs a tokenizer to split words");
  struct Span {
    size_t start, end;
    std::string label;
  };
  std::vector<Span> parsed;
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto& sp = spans[i];
    const std::string what = field + "[" + std::to_string(i) + "]";
    KILN_CHECK(sp.is_object() && sp.contains("start") && sp.contains("end") &&
                   sp.contains("label") && sp["start"].is_number_unsigned() &&
                   sp["end"].is_number_unsigned() && sp["label"].is_string(),
               at, what, " must be {\"start\": int, \"end\": int, \"label\": string}");
    const size_t a = sp["start"].get<size_t>(), b = sp["end"].get<size_t>();
    KILN_CHECK(a < b && b <= text.size(), at, what, " [", a, ", ", b,
               ") is not a non-empty range inside the ", text.size(), "-byte text");
    parsed.push_back({a, b, sp["label"].get<std::string>()});
  }
  std::sort(parsed.begin(), parsed.end(),
            [](const Span& x, const Span& y) { return x.start < y.start; });
  for (size_t i = 1; i < parsed.size(); ++i)
    KILN_CHECK(parsed[i].start >= parsed[i - 1].end, at, field, " has overlapping spans");
  std::vector<tok::WordSpan> words;
  try {
    words = tok::split_words(splitter, text, tokenizer);
  } catch (const Error& e) {
    throw Error(at + e.what());
  }
  int64_t open = -1;  // span index the previous word belonged to
  for (const tok::WordSpan& w : words) {
    r.words.push_back(text.substr(w.start, w.end - w.start));
    int64_t hit = -1;
    for (size_t i = 0; i < parsed.size() && hit < 0; ++i)
      if (w.start < parsed[i].end && w.end > parsed[i].start) hit = static_cast<int64_t>(i);
    RawLabel l;
    l.name = hit < 0 ? "O" : (hit == open ? "I-" : "B-") + parsed[hit].label;
    r.labels.push_back(l);
    open = hit;
  }
}

}  // namespace

RawData read_rows(const std::string& path, TextTask task, const std::string& text_field,
                  const std::string& label_field, const tok::Tokenizer* tokenizer,
                  data::Format format, tok::WordSplitter word_splitter) {
  auto in = data::RecordReader::open(path, format);
  RawData data;
  data.path = path;
  while (auto row = in->next()) {
    const std::string at = row->where();
    RawRow r;
    r.line = row->line;
    const auto& text = row->field(text_field);
    const auto& label = row->field(label_field);
    if (task == TextTask::TokenClassification && text.is_string()) {
      KILN_CHECK(label.is_array(), at, "field \"", label_field,
                 "\" must be an array of spans when \"", text_field, "\" is a text");
      spans_to_tags(label, text.get<std::string>(), label_field, word_splitter, tokenizer, at, r);
    } else if (task == TextTask::TokenClassification) {
      KILN_CHECK(text.is_array(), at, "field \"", text_field,
                 "\" must be an array of words or a text");
      KILN_CHECK(label.is_array(), at, "field \"", label_field, "\" must be an array of tags");
      KILN_CHECK(text.size() == label.size(), at, text.size(), " words but ", label.size(),
                 " tags (\"", text_field, "\" and \"", label_field, "\" must have equal lengths)");
      for (size_t w = 0; w < text.size(); ++w) {
        KILN_CHECK(text[w].is_string(), at, text_field, "[", w, "] must be a string");
        r.words.push_back(text[w].get<std::string>());
        r.labels.push_back(parse_label(label[w], label_field + "[" + std::to_string(w) + "]", at));
      }
    } else {
      KILN_CHECK(text.is_string(), at, "field \"", text_field, "\" must be a string");
      r.text = text.get<std::string>();
      r.labels.push_back(parse_label(label, "field \"" + label_field + "\"", at));
    }
    data.rows.push_back(std::move(r));
  }
  KILN_CHECK(!data.rows.empty(), path, ": no examples");
  return data;
}

std::vector<std::string> labels_from_data(const RawData& data, TextTask task) {
  std::set<std::string> names;
  int64_t max_int = -1;
  bool any_string = false, any_int = false;
  for (const auto& r : data.rows) {
    for (const auto& l : r.labels) {
      const std::string at = where(data.path, r.line);
      if (l.is_int) {
        KILN_CHECK(!any_string, at, "integer label ", l.value,
                   " in a file whose earlier labels are strings");
        KILN_CHECK(l.value >= 0 && l.value < 100000, at, "integer label ", l.value,
                   " is not a class id (0 or more)");
        any_int = true;
        max_int = std::max(max_int, l.value);
      } else {
        KILN_CHECK(!any_int, at, "string label \"", l.name,
                   "\" in a file whose earlier labels are integers");
        any_string = true;
        names.insert(l.name);
      }
    }
  }
  std::vector<std::string> out;
  if (any_int) {
    for (int64_t i = 0; i <= max_int; ++i) out.push_back(std::to_string(i));
    return out;
  }
  if (task == TextTask::TokenClassification && names.erase("O")) out.push_back("O");
  out.insert(out.end(), names.begin(), names.end());
  return out;
}

std::vector<Example> encode_examples(const RawData& data, const tok::Tokenizer& tokenizer,
                                     const std::vector<std::string>& label_names,
                                     const EncodeOptions& options) {
  std::map<std::string, int64_t> ids;
  for (size_t i = 0; i < label_names.size(); ++i) ids[label_names[i]] = static_cast<int64_t>(i);
  const int64_t n_labels = static_cast<int64_t>(label_names.size());
  auto label_id = [&](const RawLabel& l, size_t line) -> int64_t {
    const std::string at = where(data.path, line);
    if (l.is_int) {
      KILN_CHECK(l.value >= 0 && l.value < n_labels, at, "label id ", l.value,
                 " is outside the model's ", n_labels, " labels");
      return l.value;
    }
    auto it = ids.find(l.name);
    if (it == ids.end()) {
      std::string known;
      for (const auto& n : label_names) known += (known.empty() ? "" : ", ") + n;
      throw Error(at + "label \"" + l.name + "\" is not one of the model's labels (" + known + ")");
    }
    return it->second;
  };

  const tok::Encoding specials = tokenizer.encode("", true);
  KILN_CHECK(options.max_length > static_cast<int64_t>(specials.size()), "--max-length ",
             options.max_length, " leaves no room next to the ", specials.size(),
             " special tokens");
  std::vector<Example> out;
  out.reserve(data.rows.size());
  for (const auto& r : data.rows) {
    Example ex;
    if (options.task == TextTask::SequenceClassification) {
      tok::Tokenizer t = tokenizer;  // copies share the vocabulary; truncation is per copy
      t.set_truncation(tok::TruncationParams{static_cast<size_t>(options.max_length)});
      const tok::Encoding e = t.encode(r.text, true);
      ex.ids = e.ids;
      ex.type_ids = e.type_ids;
      ex.labels = {label_id(r.labels[0], r.line)};
      out.push_back(std::move(ex));
      continue;
    }
    // Tagging: [first special] word tokens... [remaining specials], cut to max_length.
    const size_t room = static_cast<size_t>(options.max_length) - specials.size();
    if (!specials.ids.empty()) {
      ex.ids.push_back(specials.ids[0]);
      ex.labels.push_back(kIgnoreLabel);
    }
    size_t body = 0;  // word tokens kept so far
    for (size_t w = 0; w < r.words.size(); ++w) {
      const int64_t gold = label_id(r.labels[w], r.line);
      ex.word_labels.push_back(gold);
      const std::string& word = r.words[w];
      const tok::Encoding e =
          tokenizer.encode(options.word_prefix_space ? " " + word : word, false);
      if (e.size() == 0 || body >= room) {
        ex.word_tokens.push_back(-1);
        continue;
      }
      ex.word_tokens.push_back(static_cast<int64_t>(ex.ids.size()));
      for (size_t k = 0; k < e.size() && body < room; ++k, ++body) {
        ex.ids.push_back(e.ids[k]);
        ex.labels.push_back(k == 0 ? gold : kIgnoreLabel);
      }
    }
    for (size_t k = 1; k < specials.size(); ++k) {
      ex.ids.push_back(specials.ids[k]);
      ex.labels.push_back(kIgnoreLabel);
    }
    ex.type_ids.assign(ex.ids.size(), 0);
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace kiln::train

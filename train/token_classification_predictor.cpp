// `kiln tag`'s predictor: one label per word (the prediction for the word's first sub-token), and
// spans merged from IOB2 tags with byte offsets into the input text. Long inputs are truncated to
// the model's window, or with a stride cut into overlapping windows.
#include <limits>
#include <map>
#include <utility>

#include "core/ops.h"
#include "train/iob.h"
#include "train/label_probs.h"
#include "train/pass_through.h"
#include "train/predictors.h"

namespace kiln::train {
namespace {

// A word the tokenizer turns into no tokens at all ("", " ", a lone control character).
constexpr size_t kNoToken = std::numeric_limits<size_t>::max();

struct Word {
  size_t start, end;   // byte offsets into the text
  size_t first_token;  // index into the special-free encoding, or kNoToken
};

// One input record prepared for the model: its text split into words and word-pieces.
struct Doc {
  std::string text;
  std::vector<Word> words;
  tok::Encoding enc;  // without special tokens
  std::string field;  // the input field the words came from (written back as text and words)
};

// `message` prefixed with the record's "source:line: " unless it already names it.
std::string located(const data::Record& record, const std::string& message) {
  const std::string where = record.where();
  return message.rfind(where, 0) == 0 ? message : where + message;
}

// A window [begin, end) of a document's tokens; the model sees it wrapped in special tokens.
struct Window {
  size_t begin, end;
};

class TokenClassificationPredictor : public Predictor {
 public:
  TokenClassificationPredictor(const TaskSetup& setup, const nlohmann::json& options)
      : tokenizer_(setup.tokenizer), spec_(setup.spec), fields_(setup.fields) {
    KILN_CHECK(tokenizer_, "token classification needs the model's tokenizer");
    KILN_CHECK(!spec_.labels.empty(), "the model has no labels (id2label) for its token head");
    probs_ = options.value("probs", false);
    stride_ = options.value("stride", int64_t{-1});
    splitter_ = setup.word_splitter;
    if (options.contains("word_splitter")) {
      try {
        splitter_ = tok::parse_word_splitter(options["word_splitter"].get<std::string>());
      } catch (const Error& e) {
        throw PredictorOptionError(std::string("--word-splitter: ") + e.what());
      }
    }
    specials_ = tokenizer_->encode("", true);
    KILN_CHECK(specials_.size() >= 1, "the model's tokenizer adds no special tokens");
    width_ = spec_.max_tokens - static_cast<int64_t>(specials_.size());
    KILN_CHECK(width_ > 0, "model maximum length too small");
    if (stride_ >= width_)
      throw PredictorOptionError("--stride must be smaller than the window of " +
                                 std::to_string(width_) + " tokens");
    accepts_token_types_ = false;
    for (const auto& n : spec_.input_names) accepts_token_types_ |= n == "token_type_ids";
  }

  std::vector<nn::NamedTensors> inputs(const data::Record& record) override {
    Doc doc;
    try {
      doc = prepare(record);
    } catch (const Error& e) {  // e.g. text that is not UTF-8 (from a plain text line)
      throw Error(located(record, e.what()));
    }
    std::vector<Window> windows = cut(doc.enc.size());
    std::vector<nn::NamedTensors> out;
    for (const Window& w : windows) out.push_back(window_inputs(doc, w));
    pending_[key(record)] = {std::move(doc), std::move(windows)};
    return out;
  }

  nlohmann::ordered_json format(const data::Record& record,
                                const std::vector<nn::NamedTensors>& outputs) override {
    auto it = pending_.find(key(record));
    KILN_CHECK(it != pending_.end(), record.where(), "format() without inputs() for this record");
    const auto [doc, windows] = std::move(it->second);
    pending_.erase(it);
    KILN_CHECK(outputs.size() == windows.size(), record.where(), "expected ", windows.size(),
               " model outputs, got ", outputs.size());

    // Softmax probabilities per window token (special tokens included), [tokens][labels].
    std::vector<std::vector<std::vector<float>>> probs(windows.size());
    for (size_t wi = 0; wi < windows.size(); ++wi) {
      const Tensor& logits = outputs[wi].at("logits");
      const int64_t n = logits.size(0), nl = logits.size(1);
      const std::vector<float> flat = softmax(logits, -1).contiguous().to_floats();
      probs[wi].resize(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t)
        probs[wi][t].assign(flat.begin() + t * nl, flat.begin() + (t + 1) * nl);
    }

    // For each token, the window where it sits farthest from an edge (most context) wins.
    std::vector<const std::vector<float>*> best(doc.enc.size(), nullptr);
    std::vector<size_t> margin(doc.enc.size(), 0);
    for (size_t wi = 0; wi < windows.size(); ++wi) {
      const Window& w = windows[wi];
      for (size_t k = w.begin; k < w.end; ++k) {
        const size_t mg = std::min(k - w.begin, w.end - 1 - k) + 1;
        if (mg > margin[k]) {
          margin[k] = mg;
          best[k] = &probs[wi][k - w.begin + 1];  // +1: the leading special token
        }
      }
    }
    return with_input_fields(record, {doc.field}, describe(doc, best));
  }

 private:
  using Key = std::pair<std::string, size_t>;
  static Key key(const data::Record& r) { return {r.source, r.line}; }

  // The words field when the record has one, else the text field: an array of words (as
  // `kiln train` accepts), or a text split by the word splitter.
  Doc prepare(const data::Record& record) const {
    Doc d;
    const bool has_words = record.has(fields_.words);
    d.field = has_words ? fields_.words : fields_.text;
    const nlohmann::json& value = record.field(d.field);
    if (value.is_array()) {
      // The text is the words joined by single spaces; every word is kept, even one that is
      // empty or all whitespace, so that words in and labels out line up one to one.
      for (size_t w = 0; w < value.size(); ++w) {
        KILN_CHECK(value[w].is_string(), record.where(), d.field, "[", w, "] must be a string");
        if (w) d.text += ' ';
        const size_t base = d.text.size();
        d.text += value[w].get_ref<const std::string&>();
        d.words.push_back({base, d.text.size(), kNoToken});
      }
      encode_words(d);
      return d;
    }
    KILN_CHECK(!has_words, record.where(), "field \"", fields_.words,
               "\" must be an array of words");
    KILN_CHECK(value.is_string(), record.where(), "field \"", fields_.text,
               "\" must be a string (or an array of words)");
    d.text = value.get<std::string>();
    if (splitter_ != tok::WordSplitter::Tokenizer) {
      for (const tok::WordSpan& s : tok::split_words(splitter_, d.text))
        d.words.push_back({s.start, s.end, kNoToken});
      encode_words(d);
      return d;
    }
    // The tokenizer's own words: the whole text encoded at once, words from the word ids.
    d.enc = tokenizer_->encode(d.text, false);
    int32_t last = -1;
    for (size_t k = 0; k < d.enc.size(); ++k) {
      const int32_t w = d.enc.word_ids[k];
      if (w < 0) continue;
      if (w != last) {
        d.words.push_back({d.enc.offsets[k].first, d.enc.offsets[k].second, k});
        last = w;
      } else {
        d.words.back().end = std::max<size_t>(d.words.back().end, d.enc.offsets[k].second);
      }
    }
    return d;
  }

  // Encodes each word on its own, as Hugging Face does for is_split_into_words inputs and as
  // training encodes words (train/data.h), with offsets into the document's text.
  void encode_words(Doc& d) const {
    const bool prefix_space = spec_.word_prefix_space;
    const size_t shift = prefix_space ? 1 : 0;
    for (size_t w = 0; w < d.words.size(); ++w) {
      Word& word = d.words[w];
      const std::string piece = d.text.substr(word.start, word.end - word.start);
      const tok::Encoding e = tokenizer_->encode(prefix_space ? " " + piece : piece, false);
      if (e.size() > 0) word.first_token = d.enc.size();
      for (size_t k = 0; k < e.size(); ++k) {
        auto off = e.offsets[k];
        off.first = word.start + (off.first >= shift ? off.first - shift : 0);
        off.second = word.start + (off.second >= shift ? off.second - shift : 0);
        d.enc.push_back(e.ids[k], e.tokens[k], off, 0, static_cast<int32_t>(w), 0, false);
      }
    }
  }

  // Windows of at most width_ tokens: one (truncated) without a stride, else overlapping by
  // stride_ tokens until the last token is covered. An empty document still gets one window.
  std::vector<Window> cut(size_t n) const {
    std::vector<Window> out;
    const size_t width = static_cast<size_t>(width_);
    const size_t step = stride_ < 0 ? n + 1 : static_cast<size_t>(width_ - stride_);
    for (size_t b = 0;; b += step) {
      const size_t e = std::min(n, b + width);
      out.push_back({b, e});
      if (e >= n || stride_ < 0) break;
    }
    return out;
  }

  // The window's tokens wrapped in the special tokens (first one before, the rest after).
  nn::NamedTensors window_inputs(const Doc& doc, const Window& w) const {
    std::vector<int64_t> ids;
    ids.reserve(w.end - w.begin + specials_.size());
    ids.push_back(specials_.ids[0]);
    for (size_t k = w.begin; k < w.end; ++k) ids.push_back(doc.enc.ids[k]);
    for (size_t k = 1; k < specials_.size(); ++k) ids.push_back(specials_.ids[k]);
    const int64_t n = static_cast<int64_t>(ids.size());
    nn::NamedTensors in;
    in["input_ids"] = Tensor::from_ints(ids, {n});
    in["attention_mask"] = Tensor::from_ints(std::vector<int64_t>(ids.size(), 1), {n});
    if (accepts_token_types_)
      in["token_type_ids"] = Tensor::from_ints(std::vector<int64_t>(ids.size(), 0), {n});
    return in;
  }

  nlohmann::ordered_json describe(const Doc& doc,
                                  const std::vector<const std::vector<float>*>& best) const {
    const auto& labels = spec_.labels;
    nlohmann::ordered_json out;
    out["text"] = doc.text;
    std::vector<std::string> words, tags;
    std::vector<float> scores;
    nlohmann::ordered_json word_probs = nlohmann::ordered_json::array();
    size_t truncated = 0;
    for (const auto& w : doc.words) {
      words.push_back(doc.text.substr(w.start, w.end - w.start));
      const auto* pr = w.first_token == kNoToken ? nullptr : best[w.first_token];
      if (!pr) {  // no tokens, or beyond the truncation limit: no prediction
        if (w.first_token != kNoToken) ++truncated;
        tags.push_back("O");
        scores.push_back(0.0f);
        if (probs_) word_probs.push_back(nullptr);
        continue;
      }
      KILN_CHECK(pr->size() == labels.size(), "the model gives ", pr->size(),
                 " scores per token for ", labels.size(), " labels");
      const size_t arg = argmax_label(*pr);
      tags.push_back(labels[arg]);
      scores.push_back((*pr)[arg]);
      if (probs_) word_probs.push_back(label_probs(labels, *pr));
    }
    out["words"] = words;
    out["labels"] = tags;
    nlohmann::ordered_json spans = nlohmann::ordered_json::array();
    for (const auto& s : iob2_spans(tags)) {
      float score = 0;
      for (size_t i = s.first_word; i < s.end_word; ++i) score += scores[i];
      const size_t start = doc.words[s.first_word].start, end = doc.words[s.end_word - 1].end;
      spans.push_back({{"text", doc.text.substr(start, end - start)},
                       {"label", s.type},
                       {"start", start},
                       {"end", end},
                       {"score", score / static_cast<float>(s.end_word - s.first_word)}});
    }
    out["spans"] = spans;
    if (probs_) out["probs"] = word_probs;
    if (truncated) out["truncated_words"] = truncated;
    return out;
  }

  const tok::Tokenizer* tokenizer_;
  nn::ModelSpec spec_;
  data::FieldMap fields_;
  bool probs_ = false;
  int64_t stride_ = -1;
  tok::WordSplitter splitter_ = tok::WordSplitter::Tokenizer;  // for "text" input
  int64_t width_ = 0;  // document tokens per window (the model's length minus special tokens)
  bool accepts_token_types_ = false;
  tok::Encoding specials_;  // what the tokenizer adds around a sequence
  // Records between inputs() and format(), by source and line.
  std::map<Key, std::pair<Doc, std::vector<Window>>> pending_;
};

}  // namespace

std::unique_ptr<Predictor> make_token_classification_predictor(const TaskSetup& setup,
                                                               const nlohmann::json& options) {
  return std::make_unique<TokenClassificationPredictor>(setup, options);
}

}  // namespace kiln::train

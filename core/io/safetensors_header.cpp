#include "core/io/safetensors_header.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/io/text_escape.h"

namespace kiln::io {

namespace {

using json = nlohmann::json;

// Receives the header's JSON as a stream of events (nlohmann's SAX interface, whose parser keeps
// its own stack on the heap rather than recursing) and accepts only the safetensors grammar:
// object -> {metadata object | tensor object} -> {string | array of integers}. Anything deeper or
// of the wrong kind stops the parse at that token, so a nesting bomb or a huge array of junk costs
// nothing beyond the bytes already read, and no DOM is ever built.
class HeaderSax {
 public:
  HeaderSax(SafetensorsHeader& out, const ParseLimits& limits) : out_(out), limits_(limits) {}

  const std::string& error() const { return error_; }
  bool done() const { return ctx_ == Ctx::Done; }

  bool null() { return unexpected("null"); }
  bool boolean(bool) { return unexpected("a boolean"); }
  bool binary(json::binary_t&) { return unexpected("binary data"); }
  bool number_float(json::number_float_t, const json::string_t& token) {
    return unexpected("the non-integer number " + quote(token));
  }
  bool number_integer(json::number_integer_t v) {
    if (v < 0 && (ctx_ == Ctx::Shape || ctx_ == Ctx::Offsets))
      return fail(where() + " must hold non-negative integers, got " + std::to_string(v));
    return number_unsigned(static_cast<json::number_unsigned_t>(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (ctx_ == Ctx::Shape) {
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return fail(where() + ": dimension " + std::to_string(v) + " is too large");
      if (tensor_.shape.size() >= limits_.max_rank)
        return fail(where() + " has more than " + std::to_string(limits_.max_rank) + " dimensions");
      tensor_.shape.push_back(static_cast<int64_t>(v));
      return true;
    }
    if (ctx_ == Ctx::Offsets) {
      if (offsets_.size() >= 2)
        return fail(where() + " must be [begin, end], got more than 2 values");
      offsets_.push_back(v);
      return true;
    }
    return unexpected("a number");
  }

  bool string(json::string_t& s) {
    if (ctx_ == Ctx::Metadata) {
      out_.metadata.emplace(key_, std::move(s));
      return true;
    }
    if (ctx_ == Ctx::Tensor && field_ == "dtype") {
      const auto dt = parse_file_dtype(s);
      if (!dt)
        return fail(where() + ": unknown dtype " + quote(s) +
                    " (expected one of BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, "
                    "U64, F8_E4M3, F8_E5M2)");
      tensor_.dtype = *dt;
      return true;
    }
    return unexpected("a string");
  }

  bool start_object(std::size_t) {
    if (ctx_ == Ctx::Start) {
      ctx_ = Ctx::Top;
      return true;
    }
    if (ctx_ == Ctx::Top) {
      if (key_ == "__metadata__") {
        ctx_ = Ctx::Metadata;
      } else {
        ctx_ = Ctx::Tensor;
        tensor_ = TensorEntry{};
        tensor_.name = key_;
        seen_fields_ = 0;
        offsets_.clear();
      }
      return true;
    }
    return unexpected("an object");
  }

  bool key(json::string_t& k) {
    const bool counted = ctx_ == Ctx::Metadata || (ctx_ == Ctx::Top && k != "__metadata__");
    if (counted && ++entries_ > limits_.max_entries)
      return fail("more than " + std::to_string(limits_.max_entries) +
                  " tensors and metadata keys (corrupt or hostile file)");
    switch (ctx_) {
      case Ctx::Top:
        if (!top_keys_.insert(k).second)
          return fail("duplicate entry " + quote(k) + " (tensor names must be unique)");
        key_ = std::move(k);
        return true;
      case Ctx::Metadata:
        if (out_.metadata.count(k)) return fail("duplicate __metadata__ key " + quote(k));
        key_ = std::move(k);
        return true;
      case Ctx::Tensor: {
        field_.clear();  // errors below are about the entry, not the previous field
        const unsigned bit = field_bit(k);
        if (bit == 0)
          return fail(where() + ": unknown field " + quote(k) +
                      " (expected only dtype, shape, data_offsets)");
        if (seen_fields_ & bit) return fail(where() + ": duplicate field " + quote(k));
        seen_fields_ |= bit;
        field_ = std::move(k);
        return true;
      }
      default:
        return unexpected("a key");  // unreachable: keys only occur inside objects
    }
  }

  bool end_object() {
    switch (ctx_) {
      case Ctx::Top:
        ctx_ = Ctx::Done;
        return true;
      case Ctx::Metadata:
        ctx_ = Ctx::Top;
        return true;
      case Ctx::Tensor: {
        field_.clear();
        for (const char* f : kFields) {
          if (!(seen_fields_ & field_bit(f))) return fail(where() + ": missing field '" + f + "'");
        }
        tensor_.data_begin = offsets_[0];
        tensor_.data_end = offsets_[1];
        out_.tensors.push_back(std::move(tensor_));
        ctx_ = Ctx::Top;
        return true;
      }
      default:
        return unexpected("the end of an object");
    }
  }

  bool start_array(std::size_t) {
    if (ctx_ == Ctx::Tensor && field_ == "shape") {
      ctx_ = Ctx::Shape;
      return true;
    }
    if (ctx_ == Ctx::Tensor && field_ == "data_offsets") {
      ctx_ = Ctx::Offsets;
      return true;
    }
    return unexpected("an array");
  }

  bool end_array() {
    if (ctx_ == Ctx::Shape) {
      ctx_ = Ctx::Tensor;
      return true;
    }
    if (ctx_ == Ctx::Offsets) {
      ctx_ = Ctx::Tensor;
      if (offsets_.size() != 2)
        return fail(where() + ": data_offsets must be [begin, end], got " +
                    std::to_string(offsets_.size()) + " values");
      return true;
    }
    return unexpected("the end of an array");
  }

  bool parse_error(std::size_t position, const std::string&, const json::exception& ex) {
    // nlohmann's message starts with "[json.exception.parse_error.101] "; keep only the prose.
    std::string what = ex.what();
    if (const auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return fail("invalid JSON near byte " + std::to_string(position) +
                " of the header: " + escape_for_display(what, 300));
  }

 private:
  enum class Ctx { Start, Top, Metadata, Tensor, Shape, Offsets, Done };
  static constexpr const char* kFields[] = {"dtype", "shape", "data_offsets"};

  // One bit per required tensor field, to spot duplicates and missing ones; 0 if unknown.
  static unsigned field_bit(std::string_view k) {
    for (unsigned i = 0; i < 3; ++i)
      if (k == kFields[i]) return 1u << i;
    return 0;
  }

  bool fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }

  std::string where() const {
    const std::string t = "tensor " + quote(tensor_.name);
    switch (ctx_) {
      case Ctx::Metadata:
        return "__metadata__ key " + quote(key_);
      case Ctx::Tensor:
        return field_.empty() ? t : t + " field '" + field_ + "'";
      case Ctx::Shape:
        return t + " shape";
      case Ctx::Offsets:
        return t + " data_offsets";
      default:
        return "the header";
    }
  }

  // A value of the wrong kind: say what was expected where it occurred.
  bool unexpected(const std::string& got) {
    switch (ctx_) {
      case Ctx::Start:
        return fail("the header must be a JSON object, got " + got);
      case Ctx::Top:
        if (key_ == "__metadata__")
          return fail("__metadata__ must be an object of string values, got " + got);
        return fail("tensor " + quote(key_) +
                    " must be an object with dtype, shape and data_offsets, got " + got);
      case Ctx::Metadata:
        return fail(where() + ": value must be a string, got " + got);
      case Ctx::Tensor: {
        const char* expect = field_ == "dtype" ? "a string" : "an array of non-negative integers";
        return fail(where() + " must be " + expect + ", got " + got);
      }
      case Ctx::Shape:
      case Ctx::Offsets:
        return fail(where() + " must hold non-negative integers, got " + got);
      case Ctx::Done:
        return fail("unexpected " + got + " after the header object");
    }
    return fail("unexpected " + got);
  }

  static std::string quote(std::string_view s) {
    std::string q = "'";
    q += escape_for_display(s, 120);
    q += '\'';
    return q;
  }

  SafetensorsHeader& out_;
  const ParseLimits& limits_;
  Ctx ctx_ = Ctx::Start;
  std::string error_;
  std::string key_;    // current top-level or metadata key
  std::string field_;  // current field inside a tensor entry
  std::set<std::string, std::less<>> top_keys_;
  TensorEntry tensor_;
  unsigned seen_fields_ = 0;
  size_t entries_ = 0;  // top-level keys plus metadata keys seen so far
  std::vector<uint64_t> offsets_;
};

// Checks one entry's shape against its byte range; returns the element count.
int64_t checked_numel(const TensorEntry& t, uint64_t data_size, const std::string& prefix) {
  const auto shape_text = [&] {
    std::string s = "[";
    for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
    return s + "]";
  };
  const std::string name = "tensor '" + escape_for_display(t.name, 120) + "'";
  KILN_CHECK(t.data_begin <= t.data_end, prefix, name, ": data_offsets [", t.data_begin, ", ",
             t.data_end, "] end before they begin");
  KILN_CHECK(t.data_end <= data_size, prefix, name, ": data_offsets [", t.data_begin, ", ",
             t.data_end, "] run past the end of the data section (", data_size,
             " bytes): truncated file or bad offsets");
  // A zero dimension makes the product 0 whatever the others are; otherwise multiply with
  // overflow checks, since dims come straight from the file.
  uint64_t numel = 1;
  if (std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end()) {
    numel = 0;
  } else {
    for (int64_t d : t.shape) {
      KILN_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel), prefix, name,
                 ": shape ", shape_text(), " has more elements than fit in 64 bits");
    }
  }
  uint64_t nbytes = 0;
  KILN_CHECK(!__builtin_mul_overflow(numel, file_dtype_size(t.dtype), &nbytes), prefix, name,
             ": shape ", shape_text(), " of ", file_dtype_name(t.dtype),
             " needs more bytes than fit in 64 bits");
  KILN_CHECK(nbytes == t.data_end - t.data_begin, prefix, name, ": shape ", shape_text(), " of ",
             file_dtype_name(t.dtype), " needs ", nbytes, " bytes but data_offsets [", t.data_begin,
             ", ", t.data_end, "] span ", t.data_end - t.data_begin, " bytes");
  return static_cast<int64_t>(numel);  // <= nbytes <= data_size, so it fits
}

// The data section must be tiled exactly: no byte claimed twice, none left unclaimed. This is what
// makes "read in place" safe and what lets a writer's output be checked for truncation.
void check_coverage(const SafetensorsHeader& h, const std::string& prefix) {
  std::vector<size_t> order(h.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& x = h.tensors[a];
    const auto& y = h.tensors[b];
    return x.data_begin != y.data_begin ? x.data_begin < y.data_begin : x.data_end < y.data_end;
  });
  uint64_t covered = 0;
  const TensorEntry* prev = nullptr;
  for (size_t i : order) {
    const auto& t = h.tensors[i];
    KILN_CHECK(t.data_begin >= covered, prefix, "tensors '", escape_for_display(prev->name, 120),
               "' and '", escape_for_display(t.name, 120), "' overlap: bytes [", t.data_begin, ", ",
               covered, ") of the data section are claimed by both");
    KILN_CHECK(t.data_begin == covered, prefix, "gap in the data section: bytes [", covered, ", ",
               t.data_begin, ") before tensor '", escape_for_display(t.name, 120),
               "' belong to no tensor (expected tensors to be packed back to back)");
    covered = t.data_end;
    prev = &t;
  }
  KILN_CHECK(covered == h.data_size(), prefix, "the data section has ", h.data_size(),
             " bytes but tensors cover only the first ", covered,
             " (trailing bytes belong to no tensor)");
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           std::string_view origin, const ParseLimits& limits) {
  const std::string at = std::string(origin) + ": ";
  const std::string prefix = at + "invalid safetensors header: ";
  KILN_CHECK(size <= file_size, at, "buffer of ", size, " bytes is larger than the file size ",
             file_size);
  KILN_CHECK(file_size > 0, at, "file is empty (expected an 8-byte header length, a JSON header ",
             "and tensor data)");
  KILN_CHECK(file_size >= 8, at, "file is only ", file_size,
             " bytes: too short for the 8-byte header length (truncated?)");
  KILN_CHECK(size >= 8, at, "need at least the first 8 bytes of the file to parse it");

  SafetensorsHeader h;
  h.file_size = file_size;
  for (int i = 7; i >= 0; --i) h.header_size = (h.header_size << 8) | data[i];  // little-endian
  KILN_CHECK(h.header_size <= limits.max_header_bytes, prefix, "header length ", h.header_size,
             " exceeds the limit of ", limits.max_header_bytes,
             " bytes (corrupt file, or not a safetensors file)");
  KILN_CHECK(h.header_size <= file_size - 8, prefix, "header length ", h.header_size,
             " runs past the end of the file (", file_size,
             " bytes): truncated, or not a safetensors file");
  KILN_CHECK(h.header_size >= 2, prefix, "header length is ", h.header_size,
             " (expected at least 2 bytes of JSON, '{}')");
  h.data_offset = 8 + h.header_size;
  KILN_CHECK(size >= h.data_offset, at, "need the first ", h.data_offset,
             " bytes of the file to parse its header, got ", size);

  const uint8_t* json_begin = data + 8;
  const uint8_t* json_end = json_begin + h.header_size;
  // Other implementations require this too; it also rejects most non-safetensors files early.
  KILN_CHECK(json_begin[0] == '{', prefix, "the header must start with '{' (a JSON object), got ",
             json_begin[0] >= 0x20 && json_begin[0] < 0x7f
                 ? "'" + std::string(1, static_cast<char>(json_begin[0])) + "'"
                 : "byte " + std::to_string(json_begin[0]));

  // nlohmann's lexer treats a NUL byte as the end of input, which would let "{}\0junk" pass. A
  // raw NUL is never valid JSON (not even inside a string), so reject it up front.
  if (const void* nul = std::memchr(json_begin, 0, h.header_size)) {
    throw Error(detail::concat(prefix, "invalid JSON: NUL byte at byte ",
                               static_cast<const uint8_t*>(nul) - json_begin,
                               " of the header (padding must be spaces)"));
  }

  HeaderSax sax(h, limits);
  const bool ok = json::sax_parse(json_begin, json_end, &sax, json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (!ok || !sax.done())
    throw Error(prefix + (sax.error().empty() ? "malformed JSON" : sax.error()));

  for (auto& t : h.tensors) t.numel = checked_numel(t, h.data_size(), prefix);
  check_coverage(h, prefix);
  if (size >= file_size) {
    for (auto& t : h.tensors) t.data = data + h.data_offset + t.data_begin;
  }
  return h;
}

}  // namespace kiln::io

// The RecordReader machinery every format shares: pulling bytes from a ByteSource, skipping a
// UTF-8 byte-order mark, counting lines, and the difference between next() (waits for input) and
// ready() (never waits). A format supplies two steps: assembling one record's bytes (a line, or a
// CSV row that may span lines) and converting a complete record to fields.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "data/byte_source.h"
#include "data/record_reader.h"

namespace kiln::data {

class StreamReader : public RecordReader {
 public:
  explicit StreamReader(const std::string& path);

  std::optional<Record> next() final;
  bool ready() final;
  const std::string& name() const final { return source_.name(); }

  // Bytes the reader holds: the fixed input buffer plus the record being assembled. Bounded by
  // the longest record, not the input's size.
  size_t memory_in_use() const { return source_.capacity() + record_memory(); }

 protected:
  // Takes bytes of the record being assembled from the front of `bytes`, up to and including the
  // newline that ends it; returns how many it took and sets `complete` when the record ended.
  // An incomplete record takes all of `bytes` (the reader only reads more when they are used up).
  virtual size_t assemble(std::string_view bytes, bool& complete) = 0;
  // At the end of input: completes a last record that has no final newline; false when no record
  // was begun.
  virtual bool finish() = 0;
  // Converts the complete record and starts assembling the next one; nullopt for a record that
  // holds no data (an empty line, a header). Errors begin with `where` ("source:line: ").
  virtual std::optional<nlohmann::json> convert(const std::string& where) = 0;
  // Capacity of the record being assembled, for memory_in_use().
  virtual size_t record_memory() const = 0;

 private:
  enum class Step { kRecord, kEnd, kStarved };
  // Assembles and converts records until one has data (kRecord, left in ready_), the input ends
  // (kEnd), or, when !may_wait, the bytes that are there now are used up (kStarved).
  Step advance(bool may_wait);
  // Reads more input: waiting for it, or (!may_wait) only what is there now; false when
  // !may_wait and nothing was there.
  bool pull(bool may_wait);
  // Takes a byte-order mark at the start; false while too few bytes are there to tell.
  bool skip_bom();
  // Converts the complete record into ready_ (or error_); false when it held no data.
  bool take_record();

  ByteSource source_;
  bool bom_checked_ = false;
  size_t line_ = 1;         // line of the next byte to be taken
  size_t record_line_ = 1;  // line where the record being assembled starts
  bool ended_ = false;
  // What ready() prepared for next(): a record, or the error converting it raised.
  std::optional<Record> ready_;
  std::exception_ptr error_;
};

}  // namespace kiln::data

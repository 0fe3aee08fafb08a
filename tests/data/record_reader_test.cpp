// data::RecordReader over every format: what each line becomes, what is skipped (BOM, empty
// lines, CSV/TSV headers), line numbers in errors, ready() on a pipe that is still open, and
// bounded memory on a large input.
#include "data/record_reader.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/stream_reader.h"

namespace kiln::data {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A fresh directory under $TMPDIR (or /tmp), removed at scope end.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/kiln-data-test-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& content) const {
    std::string path = path_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

 private:
  std::string path_;
};

std::vector<Record> read_all(const std::string& path, Format format = Format::Auto) {
  auto reader = RecordReader::open(path, format);
  std::vector<Record> records;
  while (auto r = reader->next()) records.push_back(std::move(*r));
  return records;
}

// The message of the kiln::Error that reading all of `path` throws ("" when none).
std::string read_error(const std::string& path, Format format = Format::Auto) {
  try {
    read_all(path, format);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

using json = nlohmann::json;

TEST(RecordReaderJsonl, ObjectsPlainTextBlankLinesAndLineNumbers) {
  ScratchDir dir;
  auto path = dir.write("in.jsonl",
                        "{\"text\": \"a\", \"label\": 1}\n"
                        "\n"
                        "   \n"
                        "just some words\n"
                        "  {\"text\": \"indented\"}\n"
                        "[citation needed] is text, not JSON\n"
                        "{\"text\": \"no final newline\"}");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].fields, (json{{"text", "a"}, {"label", 1}}));
  EXPECT_EQ(records[0].line, 1u);
  EXPECT_EQ(records[0].source, path);
  EXPECT_EQ(records[1].fields, (json{{"text", "just some words"}}));
  EXPECT_EQ(records[1].line, 4u);
  EXPECT_EQ(records[2].fields, (json{{"text", "indented"}}));
  EXPECT_EQ(records[3].fields, (json{{"text", "[citation needed] is text, not JSON"}}));
  EXPECT_EQ(records[4].fields, (json{{"text", "no final newline"}}));
  EXPECT_EQ(records[4].line, 7u);
}

TEST(RecordReaderJsonl, BomAndCrlf) {
  ScratchDir dir;
  auto path = dir.write("in.jsonl", "\xEF\xBB\xBF{\"text\": \"x\"}\r\n\r\nplain\r\n");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fields, (json{{"text", "x"}}));
  EXPECT_EQ(records[1].fields, (json{{"text", "plain"}}));
  EXPECT_EQ(records[1].line, 3u);
}

TEST(RecordReaderJsonl, MalformedLineNamesSourceAndLine) {
  ScratchDir dir;
  auto path = dir.write("bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"unclosed\n");
  EXPECT_THAT(read_error(path), StartsWith(path + ":3: malformed JSON line ("));
}

TEST(RecordReaderJsonl, ArrayLineIsAnError) {
  ScratchDir dir;
  auto path =
      dir.write("arr.jsonl", "{\"text\": \"ok\"}\n[{\"text\": \"a\"}, {\"text\": \"b\"}]\n");
  EXPECT_EQ(read_error(path), path + ":2: expected a JSON object, found an array");
}

TEST(RecordReaderCsv, QuotedCellsWithCommasQuotesAndNewlines) {
  ScratchDir dir;
  auto path = dir.write("in.csv",
                        "text,label\n"
                        "plain,pos\n"
                        "\"with, comma\",neg\n"
                        "\"she said \"\"hi\"\"\",pos\n"
                        "\"two\nlines\",neg\n"
                        "\n"
                        "5\" screen,\"\"\n"
                        "last,row");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[0].fields, (json{{"text", "plain"}, {"label", "pos"}}));
  EXPECT_EQ(records[0].line, 2u);
  EXPECT_EQ(records[1].fields, (json{{"text", "with, comma"}, {"label", "neg"}}));
  EXPECT_EQ(records[2].fields, (json{{"text", "she said \"hi\""}, {"label", "pos"}}));
  EXPECT_EQ(records[3].fields, (json{{"text", "two\nlines"}, {"label", "neg"}}));
  EXPECT_EQ(records[3].line, 5u);
  // A quote inside an unquoted cell is an ordinary character; "" is an empty quoted cell.
  EXPECT_EQ(records[4].fields, (json{{"text", "5\" screen"}, {"label", ""}}));
  EXPECT_EQ(records[4].line, 8u);
  EXPECT_EQ(records[5].fields, (json{{"text", "last"}, {"label", "row"}}));
  EXPECT_EQ(records[5].line, 9u);
}

TEST(RecordReaderCsv, BomCrlfAndEmptyCells) {
  ScratchDir dir;
  auto path = dir.write("in.csv", "\xEF\xBB\xBFid,text\r\n1,\"a\r\nb\"\r\n\r\n2,\r\n");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 2u);
  // The header's first name is "id", not BOM + "id"; CRLF inside quotes is kept as written.
  EXPECT_EQ(records[0].fields, (json{{"id", "1"}, {"text", "a\r\nb"}}));
  EXPECT_EQ(records[1].fields, (json{{"id", "2"}, {"text", ""}}));
  EXPECT_EQ(records[1].line, 5u);
}

TEST(RecordReaderCsv, WrongCellCountNamesTheLine) {
  ScratchDir dir;
  auto path = dir.write("in.csv", "text,label\n\"multi\nline\",pos\na,b,c\n");
  EXPECT_EQ(read_error(path), path + ":4: expected 2 cells (one per header column), found 3");
}

TEST(RecordReaderCsv, UnterminatedQuoteNamesTheLineWhereTheRecordStarts) {
  ScratchDir dir;
  auto path = dir.write("in.csv", "text,label\nok,pos\nfine,\"never\nclosed\n\n");
  EXPECT_THAT(read_error(path), StartsWith(path + ":3: unterminated quoted cell 2"));
}

TEST(RecordReaderCsv, TextAfterClosingQuoteIsAnError) {
  ScratchDir dir;
  auto path = dir.write("in.csv", "text,label\n\"quoted\"tail,pos\n");
  EXPECT_EQ(read_error(path), path + ":2: unexpected character after the closing quote of cell 1");
}

TEST(RecordReaderCsv, RepeatedHeaderColumnIsAnError) {
  ScratchDir dir;
  auto path = dir.write("in.csv", "\ntext,text\n");
  EXPECT_EQ(read_error(path), path + ":2: column \"text\" appears twice in the header");
}

TEST(RecordReaderTsv, TabsHeaderLiteralQuotesAndCrlf) {
  ScratchDir dir;
  auto path = dir.write("in.tsv", "sentence\tlabel\r\nit's \"great\", really\t1\r\n\r\n\t0\r\n");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fields, (json{{"sentence", "it's \"great\", really"}, {"label", "1"}}));
  EXPECT_EQ(records[1].fields, (json{{"sentence", ""}, {"label", "0"}}));
  EXPECT_EQ(records[1].line, 4u);
}

TEST(RecordReaderTsv, WrongCellCountNamesTheLine) {
  ScratchDir dir;
  auto path = dir.write("in.tab", "a\tb\n1\t2\n3\n");
  EXPECT_EQ(read_error(path), path + ":3: expected 2 cells (one per header column), found 1");
}

TEST(RecordReaderText, EveryNonBlankLineIsText) {
  ScratchDir dir;
  auto path = dir.write("in.txt", "\xEF\xBB\xBF{\"not\": \"json here\"}\r\n\n  spaced  \n");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].fields, (json{{"text", "{\"not\": \"json here\"}"}}));
  EXPECT_EQ(records[1].fields, (json{{"text", "  spaced  "}}));
  EXPECT_EQ(records[1].line, 3u);
  // An explicit format wins over the extension.
  EXPECT_EQ(read_all(path, Format::Jsonl)[0].fields, (json{{"not", "json here"}}));
}

TEST(RecordReaderFormat, NamesAndExtensions) {
  EXPECT_EQ(parse_format("auto"), Format::Auto);
  EXPECT_EQ(parse_format("jsonl"), Format::Jsonl);
  EXPECT_EQ(parse_format("csv"), Format::Csv);
  EXPECT_EQ(parse_format("tsv"), Format::Tsv);
  EXPECT_EQ(parse_format("text"), Format::Text);
  try {
    parse_format("parquet");
    FAIL() << "parse_format accepted parquet";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"parquet\" (expected auto, jsonl, csv, tsv or text)"));
  }
  EXPECT_EQ(format_for_path("a/b.CSV", Format::Auto), Format::Csv);
  EXPECT_EQ(format_for_path("b.tsv", Format::Auto), Format::Tsv);
  EXPECT_EQ(format_for_path("b.tab", Format::Auto), Format::Tsv);
  EXPECT_EQ(format_for_path("b.txt", Format::Auto), Format::Text);
  EXPECT_EQ(format_for_path("b.jsonl", Format::Auto), Format::Jsonl);
  EXPECT_EQ(format_for_path("dir.csv/b", Format::Auto), Format::Jsonl);
  EXPECT_EQ(format_for_path("-", Format::Auto), Format::Jsonl);
  EXPECT_EQ(format_for_path("b.csv", Format::Text), Format::Text);
}

TEST(RecordReaderOpen, MissingFileAndStdinName) {
  ScratchDir dir;
  try {
    RecordReader::open("/nonexistent/x.jsonl");
    FAIL() << "opened a missing file";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), StartsWith("/nonexistent/x.jsonl: cannot open input file ("));
  }
  EXPECT_EQ(RecordReader::open("-")->name(), "<stdin>");
  EXPECT_EQ(RecordReader::open("")->name(), "<stdin>");
}

TEST(Record, FieldErrorsNameSourceLineAndField) {
  Record r{json{{"text", 3}, {"label", "x"}}, "train.jsonl", 12};
  EXPECT_EQ(r.where(), "train.jsonl:12: ");
  EXPECT_TRUE(r.has("label"));
  EXPECT_FALSE(r.has("words"));
  EXPECT_EQ(r.string_field("label"), "x");
  EXPECT_EQ(r.field("text"), json(3));
  try {
    r.string_field("text");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "train.jsonl:12: field \"text\" must be a string");
  }
  try {
    r.field("sentence");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "train.jsonl:12: missing field \"sentence\"; the record has: label, text");
  }
}

TEST(Fingerprint, IsTheFilesSha256) {
  ScratchDir dir;
  auto path = dir.write("abc.txt", "abc");
  EXPECT_EQ(fingerprint(path), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(fingerprint("-"), Error);
}

// A pipe whose read end the reader opens through /dev/fd, so the test controls when data arrives
// and when the input ends.
class Pipe {
 public:
  Pipe() {
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe failed");
  }
  ~Pipe() {
    ::close(fds_[0]);
    close_write();
  }
  std::string read_path() const { return "/dev/fd/" + std::to_string(fds_[0]); }
  void write(const std::string& s) {
    ASSERT_EQ(::write(fds_[1], s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void close_write() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(RecordReaderReady, PipeStillOpenNeverBlocks) {
  Pipe pipe;
  auto reader = RecordReader::open(pipe.read_path(), Format::Jsonl);
  EXPECT_FALSE(reader->ready());  // nothing written yet: must return, not wait
  pipe.write("{\"text\": \"first\"}\n");
  ASSERT_TRUE(reader->ready());
  auto r = reader->next();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->fields, (json{{"text", "first"}}));
  EXPECT_FALSE(reader->ready());
  pipe.write("half a li");  // an incomplete record is not ready
  EXPECT_FALSE(reader->ready());
  pipe.write("ne\n\n");
  ASSERT_TRUE(reader->ready());
  EXPECT_TRUE(reader->ready());  // asking twice changes nothing
  EXPECT_EQ(reader->next()->fields, (json{{"text", "half a line"}}));
  EXPECT_FALSE(reader->ready());  // the empty line after it is skipped, not a record
  pipe.close_write();
  EXPECT_TRUE(reader->ready());
  EXPECT_FALSE(reader->next());
  EXPECT_TRUE(reader->ready());
  EXPECT_FALSE(reader->next());
}

TEST(RecordReaderReady, CsvRecordOpenAcrossLinesIsNotReady) {
  Pipe pipe;
  auto reader = RecordReader::open(pipe.read_path(), Format::Csv);
  pipe.write("\xEF\xBB");  // part of a byte-order mark
  EXPECT_FALSE(reader->ready());
  pipe.write("\xBFtext,label\n");
  EXPECT_FALSE(reader->ready());  // the header is no record
  pipe.write("\"line one\n");
  EXPECT_FALSE(reader->ready());
  pipe.write("line two\",pos\n");
  ASSERT_TRUE(reader->ready());
  auto r = reader->next();
  EXPECT_EQ(r->fields, (json{{"text", "line one\nline two"}, {"label", "pos"}}));
  EXPECT_EQ(r->line, 2u);
  pipe.write("last,neg");  // no newline: complete only once the input ends
  EXPECT_FALSE(reader->ready());
  pipe.close_write();
  ASSERT_TRUE(reader->ready());
  EXPECT_EQ(reader->next()->fields, (json{{"text", "last"}, {"label", "neg"}}));
  EXPECT_FALSE(reader->next());
}

TEST(RecordReaderReady, ConversionErrorIsReportedByNextAndReadingGoesOn) {
  Pipe pipe;
  auto reader = RecordReader::open(pipe.read_path(), Format::Jsonl);
  pipe.write("{broken\n{\"text\": \"after\"}\n");
  ASSERT_TRUE(reader->ready());  // ready() itself does not throw
  try {
    reader->next();
    FAIL() << "no error for a malformed line";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), StartsWith(pipe.read_path() + ":1: malformed JSON line"));
  }
  ASSERT_TRUE(reader->ready());
  auto r = reader->next();
  EXPECT_EQ(r->fields, (json{{"text", "after"}}));
  EXPECT_EQ(r->line, 2u);
}

// Reads `path` as a consumer that skips bad records does: the line of each record read, and
// "!N" for each RecordError at line N. A plain kiln::Error propagates.
std::vector<std::string> read_skipping(const std::string& path) {
  auto reader = RecordReader::open(path);
  std::vector<std::string> seen;
  for (;;) {
    try {
      auto r = reader->next();
      if (!r) return seen;
      seen.push_back(std::to_string(r->line));
    } catch (const RecordError& e) {
      const std::string msg = e.what();
      const size_t colon = msg.find(':', path.size() + 1);
      seen.push_back("!" + msg.substr(path.size() + 1, colon - path.size() - 1));
    }
  }
}

TEST(RecordError, BadRecordsAreSkippableAndReadingGoesOn) {
  ScratchDir dir;
  EXPECT_EQ(read_skipping(dir.write("a.jsonl", "{\"a\": 1}\n{bad\n[1, 2]\n{\"a\": 2}\n")),
            (std::vector<std::string>{"1", "!2", "!3", "4"}));
  EXPECT_EQ(read_skipping(dir.write("b.csv", "x,y\n1,2\n1,2,3\n\"q\"z,1\n4,5\n")),
            (std::vector<std::string>{"2", "!3", "!4", "5"}));
  EXPECT_EQ(read_skipping(dir.write("c.tsv", "x\ty\n1\n1\t2\n")),
            (std::vector<std::string>{"!2", "3"}));
  // An unterminated quote runs to the end of the input: one bad record, then the end.
  EXPECT_EQ(read_skipping(dir.write("d.csv", "x,y\n1,2\n\"open,1\n3,4\n")),
            (std::vector<std::string>{"2", "!3"}));
  // A bad header is not skippable: without it no later row can be read right.
  EXPECT_THROW(
      {
        try {
          read_skipping(dir.write("e.csv", "x,x\n1,2\n"));
        } catch (const RecordError&) {
          ADD_FAILURE() << "a repeated header column is a RecordError";
        }
      },
      Error);
  EXPECT_THROW(
      {
        try {
          read_skipping(dir.write("f.csv", "\"x\"y,z\n1,2\n"));
        } catch (const RecordError&) {
          ADD_FAILURE() << "a malformed header is a RecordError";
        }
      },
      Error);
}

// Reads all of `path`, returning the number of records and the most memory the reader held.
std::pair<size_t, size_t> count_and_peak_memory(const std::string& path) {
  auto reader = RecordReader::open(path);
  auto* stream = dynamic_cast<StreamReader*>(reader.get());
  if (!stream) throw std::runtime_error("not a StreamReader");
  size_t count = 0, peak = 0;
  while (reader->next()) {
    peak = std::max(peak, stream->memory_in_use());
    ++count;
  }
  return {count, peak};
}

TEST(RecordReaderMemory, LargeInputIsStreamed) {
  ScratchDir dir;
  const size_t kRows = 60000;  // about 4 MB per file
  std::string jsonl, csv = "text,id\n";
  for (size_t i = 0; i < kRows; ++i) {
    std::string text(50, static_cast<char>('a' + i % 26));
    jsonl += "{\"text\": \"" + text + "\", \"id\": " + std::to_string(i) + "}\n";
    csv += "\"" + text + ",\nmore\"," + std::to_string(i) + "\n";
  }
  // One long record: memory grows to hold it, and is not kept for the rest of the input.
  jsonl += std::string(2 << 20, 'x') + "\n";
  csv += std::string(2 << 20, 'x') + ",q\n";
  for (size_t i = 0; i < 1000; ++i) jsonl += "tail\n", csv += "tail,t\n";
  ASSERT_GT(jsonl.size(), 6u << 20);

  auto [jsonl_count, jsonl_peak] = count_and_peak_memory(dir.write("big.jsonl", jsonl));
  EXPECT_EQ(jsonl_count, kRows + 1001);
  auto [csv_count, csv_peak] = count_and_peak_memory(dir.write("big.csv", csv));
  EXPECT_EQ(csv_count, kRows + 1001);
  // The input buffer (64 KiB) and the longest record (2 MiB), not the file.
  EXPECT_LT(jsonl_peak, 3u << 20);
  EXPECT_LT(csv_peak, 3u << 20);

  // Without the long record, a fraction of the file.
  auto [count, peak] = count_and_peak_memory(
      dir.write("plain.jsonl", jsonl.substr(0, jsonl.rfind('\n', 4 << 20) + 1)));
  EXPECT_GT(count, 50000u);
  EXPECT_LT(peak, 128u << 10);
}

}  // namespace
}  // namespace kiln::data

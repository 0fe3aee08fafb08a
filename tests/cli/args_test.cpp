// ArgParser, the flag parser behind every kiln command: the spellings it accepts, the usage errors
// it raises (each naming the flag), and the hints for Hugging Face-style flag names.
#include "tools/args.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tools/command.h"

namespace kiln::cli {
namespace {

using Args = std::vector<std::string>;

// A cut-down `kiln train`: options with and without defaults and short aliases, flags defaulting
// to off and on, and one optional positional.
ArgParser training_parser() {
  ArgParser p("train", "--train FILE [options] [EXTRA]");
  p.option("train", "training data")
      .option("output", "run directory", "-o")
      .option("model", "model file", "-m")
      .option("learning-rate", "peak learning rate", "", "5e-5")
      .option("epochs", "passes over the data", "", "3")
      .option("per-device-batch-size", "examples per micro-batch", "", "8")
      .option("warmup-ratio", "warm-up fraction", "", "0")
      .option("stride", "window stride", "", "0")
      .option("text-field", "input field")
      .flag("probs", "add probabilities")
      .flag("add-special-tokens", "add special tokens", true)
      .positional("EXTRA", "an optional extra", false);
  return p;  // returned by value, as cmd_train's make_parser() does
}

ArgParser parsed(const Args& args) {
  ArgParser p = training_parser();
  p.parse(args);
  return p;
}

// The UsageError message `action` throws, or "" when it throws none.
std::string usage_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const Args& args) {
  return usage_error([&] { parsed(args); });
}

TEST(ArgParser, AcceptsEverySpellingOfAnOptionValue) {
  EXPECT_EQ(parsed({"--output", "a"}).get("output"), "a");
  EXPECT_EQ(parsed({"--output=a"}).get("output"), "a");
  EXPECT_EQ(parsed({"-o", "a"}).get("output"), "a");
  EXPECT_EQ(parsed({"--output=a=b"}).get("output"), "a=b");  // only the first '=' splits
  EXPECT_EQ(parsed({"--output="}).get("output"), "");        // empty, not the next argument
  EXPECT_EQ(parsed({"--text-field=", "x"}).get("EXTRA"), "x");
}

TEST(ArgParser, AcceptsEverySpellingOfABooleanFlag) {
  EXPECT_FALSE(parsed({}).get_flag("probs"));
  EXPECT_TRUE(parsed({"--probs"}).get_flag("probs"));
  EXPECT_TRUE(parsed({"--probs=true"}).get_flag("probs"));
  EXPECT_FALSE(parsed({"--probs=false"}).get_flag("probs"));
  EXPECT_TRUE(parsed({}).get_flag("add-special-tokens"));
  EXPECT_FALSE(parsed({"--add-special-tokens=false"}).get_flag("add-special-tokens"));
}

TEST(ArgParser, FlagValuesOtherThanTrueOrFalseAreUsageErrors) {
  EXPECT_EQ(parse_error({"--probs=yes"}), "option '--probs' takes true or false, got 'yes'");
  EXPECT_EQ(parse_error({"--probs="}), "option '--probs' takes true or false, got ''");
}

TEST(ArgParser, ARepeatedOptionKeepsTheLastValue) {
  EXPECT_EQ(parsed({"--epochs", "1", "--epochs=2", "--epochs", "5"}).get_int("epochs"), 5);
  EXPECT_EQ(parsed({"-o", "a", "--output", "b", "-o", "c"}).get("output"), "c");
  EXPECT_FALSE(parsed({"--probs", "--probs=false"}).get_flag("probs"));
  EXPECT_TRUE(parsed({"--probs=false", "--probs"}).get_flag("probs"));
}

TEST(ArgParser, GivenIsTrueOnlyForFlagsOnTheCommandLine) {
  const ArgParser p = parsed({"-o", "run", "--probs=false", "extra"});
  EXPECT_TRUE(p.given("output"));  // through its short alias
  EXPECT_TRUE(p.given("probs"));   // given, even though given as false
  EXPECT_TRUE(p.given("EXTRA"));
  EXPECT_FALSE(p.given("epochs"));  // has a default, but was not given
  EXPECT_TRUE(p.has("epochs"));
  EXPECT_EQ(p.get_int("epochs"), 3);
  EXPECT_FALSE(p.given("model"));
  EXPECT_FALSE(p.has("model"));
  EXPECT_FALSE(p.given("not-declared"));
  EXPECT_TRUE(parsed({"--epochs", "3"}).given("epochs"));  // given, even with the default value
}

TEST(ArgParser, OptionalAndMissingValues) {
  const ArgParser p = parsed({});
  EXPECT_EQ(p.get_optional("model"), std::nullopt);
  EXPECT_EQ(p.get_optional("learning-rate"), "5e-5");
  EXPECT_EQ(usage_error([&] { p.get("model"); }), "missing required option '--model'");
}

TEST(ArgParser, HelpIsRequestedEvenWhenARequiredPositionalIsMissing) {
  for (const std::string help : {"--help", "-h"}) {
    ArgParser p("inspect", "FILE");
    p.positional("FILE", "a file").flag("json", "print JSON");
    EXPECT_NO_THROW(p.parse({help}));
    EXPECT_TRUE(p.help_requested());
  }
  ArgParser p("inspect", "FILE");
  p.positional("FILE", "a file");
  EXPECT_EQ(usage_error([&] { p.parse({}); }), "missing argument FILE");
  EXPECT_FALSE(p.help_requested());
}

TEST(ArgParser, HelpTextListsEveryDeclaration) {
  const std::string help = training_parser().help_text();
  EXPECT_EQ(help.rfind("usage: kiln train --train FILE [options] [EXTRA]\n", 0), 0u) << help;
  EXPECT_NE(help.find("  EXTRA\n      an optional extra\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --output, -o VALUE\n      run directory\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  --epochs VALUE\n      passes over the data (default: 3)\n"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("  --probs\n      add probabilities\n"), std::string::npos) << help;
  EXPECT_NE(help.find("(on by default; --add-special-tokens=false turns it off)"),
            std::string::npos)
      << help;
}

TEST(ArgParser, UnknownFlagsAreUsageErrorsWithAHint) {
  EXPECT_EQ(parse_error({"--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(parse_error({"--learning_rate", "1e-3"}),
            "unknown option '--learning_rate' (did you mean --learning-rate?)");
  EXPECT_EQ(parse_error({"--learning_rate=1e-3"}),
            "unknown option '--learning_rate' (did you mean --learning-rate?)");
  EXPECT_EQ(parse_error({"--warmup_ratio", "0.1"}),
            "unknown option '--warmup_ratio' (did you mean --warmup-ratio?)");
  EXPECT_EQ(parse_error({"--num_train_epochs", "2"}),
            "unknown option '--num_train_epochs' (did you mean --epochs?)");
  EXPECT_EQ(parse_error({"--per_device_train_batch_size", "2"}),
            "unknown option '--per_device_train_batch_size' (did you mean "
            "--per-device-batch-size?)");
  EXPECT_EQ(parse_error({"--output_dir", "run"}),
            "unknown option '--output_dir' (did you mean --output?)");
  EXPECT_EQ(parse_error({"--model_name_or_path", "m"}),
            "unknown option '--model_name_or_path' (did you mean --model?)");
  EXPECT_EQ(parse_error({"--epoch", "2"}), "unknown option '--epoch' (did you mean --epochs?)");
  EXPECT_EQ(parse_error({"-x"}), "unknown option '-x'");
}

TEST(ArgParser, HuggingFaceHintsOnlyNameFlagsTheCommandHas) {
  ArgParser p("tag", "-m MODEL");
  p.option("model", "model file", "-m");
  EXPECT_EQ(usage_error([&] { p.parse({"--output_dir", "x"}); }), "unknown option '--output_dir'");
}

TEST(ArgParser, AnUnknownFlagIsReportedBeforeALaterMissingValue) {
  EXPECT_EQ(parse_error({"--learning_rate", "1", "--model"}),
            "unknown option '--learning_rate' (did you mean --learning-rate?)");
  EXPECT_EQ(parse_error({"--model"}), "option '--model' needs a value");
  EXPECT_EQ(parse_error({"-m"}), "option '--model' needs a value");
}

TEST(ArgParser, ValuesGluedToAShortAliasAreUnknown) {
  // CLI11 alone would read "-m=x" as the model "=x"; kiln only knows "-m VALUE".
  EXPECT_EQ(parse_error({"-m=x"}), "unknown option '-m=x'");
  EXPECT_EQ(parse_error({"-mx"}), "unknown option '-mx'");
}

TEST(ArgParser, PositionalArguments) {
  EXPECT_EQ(parse_error({"one", "two"}), "unexpected argument 'two'");
  EXPECT_EQ(parsed({"-"}).get("EXTRA"), "-");                    // stdin, by convention
  EXPECT_EQ(parsed({"--", "--probs"}).get("EXTRA"), "--probs");  // after "--", not a flag
  EXPECT_FALSE(parsed({"--", "--probs"}).get_flag("probs"));
}

TEST(ArgParser, MalformedNumbersAreUsageErrorsNamingTheFlag) {
  auto int_error = [](const Args& args) {
    return usage_error([&] { parsed(args).get_int("epochs"); });
  };
  auto number_error = [](const Args& args) {
    return usage_error([&] { parsed(args).get_double("learning-rate"); });
  };
  EXPECT_EQ(int_error({"--epochs", "abc"}), "option '--epochs' expects an integer, got 'abc'");
  EXPECT_EQ(int_error({"--epochs", "12x"}), "option '--epochs' expects an integer, got '12x'");
  EXPECT_EQ(int_error({"--epochs", "1.5"}), "option '--epochs' expects an integer, got '1.5'");
  EXPECT_EQ(int_error({"--epochs="}), "option '--epochs' expects an integer, got ''");
  EXPECT_EQ(number_error({"--learning-rate", "abc"}),
            "option '--learning-rate' expects a number, got 'abc'");
  EXPECT_EQ(number_error({"--learning-rate", "1e-3x"}),
            "option '--learning-rate' expects a number, got '1e-3x'");
  EXPECT_EQ(parsed({"--epochs", "010"}).get_int("epochs"), 10);  // decimal, never octal
}

TEST(ArgParser, NegativeNumbersAreValues) {
  EXPECT_EQ(parsed({"--stride", "-1"}).get_int("stride"), -1);
  EXPECT_EQ(parsed({"--stride=-1"}).get_int("stride"), -1);
  EXPECT_DOUBLE_EQ(parsed({"--learning-rate", "-1e-3"}).get_double("learning-rate"), -1e-3);
  EXPECT_DOUBLE_EQ(parsed({"--learning-rate", "2e-5"}).get_double("learning-rate"), 2e-5);
  // An option's value is always the next argument, whatever it looks like.
  EXPECT_EQ(parsed({"-m", "-o"}).get("model"), "-o");
  EXPECT_EQ(parsed({"--model", "--help"}).help_requested(), false);
}

}  // namespace
}  // namespace kiln::cli

// The submit form's flags split like a shell splits words: quotes, escapes, and errors.
#include "portal/words.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace scaledl::portal {
namespace {

using Words = std::vector<std::string>;

TEST(PortalWords, BlanksSeparateAndRunsOfBlanksCountOnce) {
  EXPECT_EQ(split_words("--model resnet50   --batch\t32\n"),
            (Words{"--model", "resnet50", "--batch", "32"}));
  EXPECT_EQ(split_words(""), Words{});
  EXPECT_EQ(split_words("   \t "), Words{});
}

TEST(PortalWords, QuotesKeepBlanksAndJoinWithNeighbours) {
  EXPECT_EQ(split_words("--data 'folder:/data/my images' --note \"a b\""),
            (Words{"--data", "folder:/data/my images", "--note", "a b"}));
  EXPECT_EQ(split_words("--x=\"a b\"c'd e'"), (Words{"--x=a bcd e"}));
  EXPECT_EQ(split_words("'' \"\""), (Words{"", ""}));  // empty quoted words are words
}

TEST(PortalWords, SingleQuotesAreLiteralDoubleQuotesHonourFourEscapes) {
  EXPECT_EQ(split_words(R"('a\"b $HOME')"), (Words{R"(a\"b $HOME)"}));
  EXPECT_EQ(split_words(R"("say \"hi\" \\ \$HOME \` \n")"), (Words{R"(say "hi" \ $HOME ` \n)"}));
  EXPECT_EQ(split_words("$HOME *.jpg `ls`"), (Words{"$HOME", "*.jpg", "`ls`"}));  // nothing runs
}

TEST(PortalWords, BackslashEscapesOutsideQuotes) {
  EXPECT_EQ(split_words(R"(a\ b c\'d \"e)"), (Words{"a b", "c'd", "\"e"}));
  EXPECT_EQ(split_words("a\\\nb"), (Words{"ab"}));  // a line continuation joins
}

TEST(PortalWords, UnterminatedQuotesAndTrailingBackslashAreErrors) {
  EXPECT_THROW(split_words("--data 'open"), Error);
  EXPECT_THROW(split_words("--data \"open"), Error);
  EXPECT_THROW(split_words("--data \"a\\\""), Error);  // the escaped quote does not close it
  EXPECT_THROW(split_words("trailing\\"), Error);
  try {
    split_words("x 'y", "args");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("args: unterminated single quote at character 3"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace scaledl::portal

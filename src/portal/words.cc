// Shell-like word splitting for the submit form's flags.
#include "portal/words.h"

#include "core/error.h"

namespace scaledl::portal {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

[[noreturn]] void fail(std::string_view field, const std::string& what) {
  throw Error("portal", std::string(field) + ": " + what +
                            "; close the quote, or escape the character with a backslash");
}

}  // namespace

std::vector<std::string> split_words(std::string_view line, std::string_view field) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has started (even an empty one: '' is a word)
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      const size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos)
        fail(field, "unterminated single quote at character " + std::to_string(i + 1));
      word.append(line.substr(i + 1, end - i - 1));
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= line.size())
          fail(field, "unterminated double quote at character " + std::to_string(i + 1));
        if (line[j] == '"') break;
        if (line[j] == '\\' && j + 1 < line.size()) {
          const char n = line[j + 1];
          if (n == '"' || n == '\\' || n == '$' || n == '`') {
            word += n;
            ++j;
            continue;
          }
          if (n == '\n') {  // a line continuation inside quotes disappears
            ++j;
            continue;
          }
        }
        word += line[j];
      }
      in_word = true;
      i = j + 1;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) fail(field, "a backslash at the end has nothing to escape");
      if (line[i + 1] != '\n') {
        word += line[i + 1];
        in_word = true;
      }
      i += 2;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace scaledl::portal

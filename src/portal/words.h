// Splits a line of command-line flags into words the way a POSIX shell would, without running
// anything: blanks separate words, 'single quotes' keep everything literally, "double quotes"
// keep blanks and honour \" \\ \$ \` and \newline, a backslash outside quotes escapes the next
// character. No variables, globs, command substitution or operators: `$HOME` stays `$HOME`.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace scaledl::portal {

// Throws Error naming `field` for an unterminated quote or a trailing backslash.
std::vector<std::string> split_words(std::string_view line, std::string_view field = "args");

}  // namespace scaledl::portal

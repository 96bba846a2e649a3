// scaledl: the command-line entry point (placeholder until the subcommands land).
#include <cstdio>

int main() {
  std::puts("scaledl");
  return 0;
}

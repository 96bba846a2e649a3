#!/usr/bin/env bash
# Regenerates the committed seed corpora fuzz/corpus/{record,idx,onnx}/ with the fuzz_make_corpus
# program (fuzz/make_corpus.cc), built in build/ by the normal g++ build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j2 --target fuzz_make_corpus
rm -rf "$root/fuzz/corpus/record" "$root/fuzz/corpus/idx" "$root/fuzz/corpus/onnx"
"$root/build/fuzz_make_corpus" "$root/fuzz/corpus"
du -sb "$root/fuzz/corpus"

// libFuzzer target: the input is an ONNX file, imported as scaledl's importer would read it
// from disk (checker, shape inference, every op mapping), without external data.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "onnx/import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    scaledl::onnxio::import_onnx_bytes(data, size, "fuzz.onnx");
  } catch (const scaledl::Error&) {
  }
  return 0;
}

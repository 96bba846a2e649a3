// scaledl export: a checkpoint as an ONNX model, fp32 as trained or int8 as a QDQ model with the
// Engine's calibrated scales, for ONNX Runtime, OpenVINO and TensorRT.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/infer_common.h"
#include "core/error.h"
#include "onnx/export.h"

namespace scaledl::cli {

namespace {
struct ExportArgs {
  std::string checkpoint, onnx, precision = "fp32";
  int64_t opset = 17;
  CalibFlags calib;
};
}  // namespace

Runner add_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* c =
      app.add_subcommand("export", "Write a checkpoint as an ONNX model (fp32, or int8 QDQ)");
  c->add_option("--config", "JSON file of flag: value; flags given here override it");
  c->add_option("--checkpoint", a->checkpoint, "checkpoint.safetensors written by scaledl train")
      ->required();
  c->add_option("--onnx", a->onnx, "the ONNX file to write")->required();
  c->add_option("--opset", a->opset, "ONNX opset, 13 to 17")->capture_default_str();
  c->add_option("--precision", a->precision,
                "fp32 (the model as trained) or int8 (QDQ with scaledl's calibrated scales)")
      ->capture_default_str();
  add_calib_flags(*c, a->calib);
  return [a] {
    const infer::Precision prec = infer::parse_precision(a->precision);
    if (prec == infer::Precision::bf16)
      throw Error("flags",
                  "--precision bf16: export writes fp32 or int8 (runtimes pick bf16 "
                  "themselves from an fp32 model)");
    if (!a->calib.keep_fp32.empty())
      throw Error("flags",
                  "--keep-fp32 is not supported by export; every convolution and "
                  "linear layer is written in int8");
    if (std::filesystem::is_directory(a->onnx))
      throw Error("flags", "--onnx " + a->onnx + " is a folder; give a file name");
    LoadedModel m = load_checkpoint_model(a->checkpoint);
    onnxio::ExportOptions o;
    o.opset = a->opset;
    o.int8 = prec == infer::Precision::int8;
    o.mean = m.mean;
    o.stddev = m.stddev;
    o.model_name = m.name;
    if (o.int8) {
      nlohmann::json about;
      o.thresholds = resolve_calibration(m, a->calib, about);
    }
    onnxio::export_onnx(m.graph, a->onnx, o);
    std::printf("%s: %s %s, opset %lld, input [N, %d, %lld, %lld], output [N, %d] (%.1f MB)\n",
                a->onnx.c_str(), m.name.c_str(), a->precision.c_str(),
                static_cast<long long>(a->opset), m.in_channels,
                static_cast<long long>(m.image_size), static_cast<long long>(m.image_size),
                m.classes, static_cast<double>(std::filesystem::file_size(a->onnx)) / 1e6);
    return 0;
  };
}

}  // namespace scaledl::cli

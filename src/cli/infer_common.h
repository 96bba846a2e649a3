// What `scaledl infer` and `scaledl eval --precision` share: the model as a graph with values,
// the calibration flags and their resolution (cache or calibration run), and accuracy through
// an Engine.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "graph/graph.h"
#include "infer/calibration.h"
#include "infer/engine.h"
#include "train/evaluator.h"

namespace scaledl::cli {

// A model ready for inference: its graph with values and the input normalization it expects.
struct LoadedModel {
  Graph graph;
  std::string name;
  int in_channels = 3;
  int64_t image_size = 0;
  int classes = 0;
  std::vector<float> mean, stddev;
};
// From a checkpoint written by `scaledl train`.
LoadedModel load_checkpoint_model(const std::string& path);
// From an ONNX file. Input normalization for image data: `mean`/`stddev` when given, else what
// `scaledl export` recorded in the file, else ImageNet's (torchvision's) for 3 channels.
// `quantized` is set when the model carries QDQ scales (int8 can run with them).
LoadedModel load_onnx_model(const std::string& path, const std::vector<float>& mean,
                            const std::vector<float>& stddev, bool* quantized = nullptr);
// A registry model with its training initialization (seeded): for speed measurements.
LoadedModel init_model(const std::string& name, int in_channels, int64_t image_size, int classes);

// Where a command's model comes from: --checkpoint, --onnx (with --mean/--std) or --model (with
// --image-size, --classes, --in-channels), exactly one.
struct ModelFlags {
  std::string checkpoint, onnx, model;
  std::vector<float> mean, stddev;
  int64_t image_size = 0;
  int classes = 10, channels = 3;
  std::string kind() const;  // "ckpt", "onnx" or the registry name, for run-folder names
};
void add_model_flags(CLI::App& c, ModelFlags& f);
// The model the flags name (Error when not exactly one is given); `qdq` is set when it is an
// ONNX model carrying QDQ scales.
LoadedModel load_model(const ModelFlags& f, bool* qdq);

struct CalibFlags {
  std::string data, method = "entropy", cache;
  int64_t images = 500;
  double percentile = 99.99;
  std::vector<std::string> keep_fp32;
};
void add_calib_flags(CLI::App& c, CalibFlags& f);

// The thresholds int8 runs with: from --calib-cache when it exists and matches the model
// (refused naming the mismatch otherwise), else by calibrating on --calib-data (and written to
// --calib-cache when given). `about` receives what was used, for summary.json.
infer::Thresholds resolve_calibration(const LoadedModel& m, const CalibFlags& f,
                                      nlohmann::json& about);

// int8 thresholds for `m`: an imported QDQ model's own scales (`qdq`) unless calibration flags
// are given, else resolve_calibration. `about` says which, for summary.json.
infer::Thresholds model_thresholds(const LoadedModel& m, const CalibFlags& f, bool qdq,
                                   nlohmann::json& about);

// The evaluation split of `data` and its transform at the model's size and normalization (nchw
// float), checked against the model's input (Error naming `flag`).
std::pair<SourcePtr, Transformer> eval_data(const LoadedModel& m, const std::string& data,
                                            const std::string& flag);

// A loader over the evaluation split of `data` at the model's size and normalization, nchw.
std::unique_ptr<Loader> eval_loader(const LoadedModel& m, const std::string& data, int64_t batch,
                                    const std::string& flag);

// top-1/top-5/loss of the engine over every batch of `loader`; the real rows' logits are
// appended to `logits` when given ([N, classes] row-major).
EvalResult evaluate_engine(infer::Engine& e, Loader& loader, std::vector<float>* logits = nullptr);

}  // namespace scaledl::cli

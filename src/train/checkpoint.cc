// Checkpoint save/load over the safetensors format.
#include "train/checkpoint.h"

#include <cstdio>
#include <map>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

namespace scaledl {

namespace {
constexpr const char* kFormat = "scaledl-checkpoint-1";

int64_t meta_int(const SafetensorsFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end())
    throw Error("checkpoint", path + ": metadata key '" + key +
                                  "' is missing; the file is "
                                  "damaged or was not written by scaledl");
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    throw Error("checkpoint", path + ": metadata '" + key + "' = '" + it->second +
                                  "' is not a number; the file is damaged");
  }
}

std::string join_floats(const std::vector<float>& v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.9g", v[i]);
    if (i) s += ',';
    s += buf;
  }
  return s;
}

std::vector<float> parse_floats(const SafetensorsFile& f, const std::string& path,
                                const std::string& key) {
  std::vector<float> out;
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) return out;
  size_t pos = 0;
  const std::string& s = it->second;
  while (pos < s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    try {
      out.push_back(std::stof(s.substr(pos, end - pos)));
    } catch (const std::exception&) {
      throw Error("checkpoint", path + ": metadata '" + key + "' = '" + s +
                                    "' is not a list of numbers; the file is damaged");
    }
    pos = end + 1;
  }
  return out;
}

CheckpointInfo info_of(const SafetensorsFile& f, const std::string& path) {
  auto fmt = f.metadata.find("format");
  if (fmt == f.metadata.end() || fmt->second != kFormat)
    throw Error("checkpoint", path + ": not a scaledl checkpoint (metadata format is '" +
                                  (fmt == f.metadata.end() ? std::string("missing") : fmt->second) +
                                  "', want '" + kFormat +
                                  "'); pass a file written by scaledl train");
  CheckpointInfo info;
  info.model = f.metadata.at("model");
  info.step = meta_int(f, path, "step");
  info.epoch = meta_int(f, path, "epoch");
  info.rng_state = std::stoull(f.metadata.count("rng_state") ? f.metadata.at("rng_state") : "0");
  info.image_size = meta_int(f, path, "image_size");
  info.in_channels = static_cast<int>(meta_int(f, path, "in_channels"));
  info.classes = static_cast<int>(meta_int(f, path, "classes"));
  if (f.metadata.count("config")) info.config_json = f.metadata.at("config");
  info.mean = parse_floats(f, path, "norm_mean");
  info.stddev = parse_floats(f, path, "norm_std");
  if (f.metadata.count("loss_scale")) {  // absent in checkpoints of fp32 runs and older ones
    const std::vector<float> ls = parse_floats(f, path, "loss_scale");
    if (ls.size() != 2 || !(ls[0] > 0) || ls[1] < 0)
      throw Error("checkpoint", path +
                                    ": metadata loss_scale must be 'scale,clean_steps'; the "
                                    "file is damaged");
    info.loss_scale = ls[0];
    info.loss_scale_clean_steps = static_cast<int64_t>(ls[1]);
  }
  return info;
}

void load_into(const SafetensorsFile& f, const std::string& path, const std::string& name,
               const Tensor& dst) {
  const Tensor* src = f.find(name);
  if (!src)
    throw Error("checkpoint", path + ": tensor '" + name +
                                  "' is missing; the checkpoint is "
                                  "from another model or damaged");
  if (src->shape() != dst.shape() || src->dtype() != dst.dtype())
    throw Error("checkpoint", path + ": tensor '" + name + "' is " + src->str() +
                                  " but the model "
                                  "needs " +
                                  dst.str() + "; check --model");
  Tensor d = dst;
  d.copy_from(*src);
}
}  // namespace

void save_checkpoint(const std::string& path, const Net& net, const OptimizerState* state,
                     const CheckpointInfo& info) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  // Device tensors are staged through host copies.
  const Device host = Device::cpu();
  for (const NetParam& p : net.params()) tensors.emplace_back(p.name, p.value.to(host));
  for (const NetBuffer& b : net.buffers()) tensors.emplace_back(b.name, b.value.to(host));
  if (state)
    for (const auto& [name, t] : *state) tensors.emplace_back(name, t.to(host));
  std::map<std::string, std::string> meta{{"format", kFormat},
                                          {"model", info.model},
                                          {"step", std::to_string(info.step)},
                                          {"epoch", std::to_string(info.epoch)},
                                          {"rng_state", std::to_string(info.rng_state)},
                                          {"image_size", std::to_string(info.image_size)},
                                          {"in_channels", std::to_string(info.in_channels)},
                                          {"classes", std::to_string(info.classes)},
                                          {"norm_mean", join_floats(info.mean)},
                                          {"norm_std", join_floats(info.stddev)},
                                          {"config", info.config_json}};
  if (info.loss_scale > 0)
    meta["loss_scale"] =
        join_floats({info.loss_scale, static_cast<float>(info.loss_scale_clean_steps)});
  save_safetensors(path, tensors, meta);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return info_of(load_safetensors(path), path);
}

CheckpointInfo load_checkpoint(const std::string& path, Net& net, const OptimizerState* state) {
  SafetensorsFile f = load_safetensors(path);
  CheckpointInfo info = info_of(f, path);
  if (info.model != net.name())
    throw Error("checkpoint", path + ": holds model '" + info.model + "' but --model is '" +
                                  net.name() + "'; pass --model " + info.model);
  for (const NetParam& p : net.params()) load_into(f, path, p.name, p.value);
  for (const NetBuffer& b : net.buffers()) load_into(f, path, b.name, b.value);
  if (state)
    for (const auto& s : *state) load_into(f, path, s.first, s.second);
  return info;
}

}  // namespace scaledl

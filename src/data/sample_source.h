// SampleSource: a data set whose samples are read one at a time by index (0..size()-1, in
// storage order), from any thread. Record shards, JPEG folders, CSV lists, IDX files, .npy arrays
// and synthetic sets all appear as one, so the loader, `data pack` and `data plan` work on each the
// same way.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/record.h"

namespace scaledl {

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int64_t size() const = 0;
  virtual int classes() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  virtual std::string key(int64_t i) const = 0;   // without reading the sample
  virtual int32_t label(int64_t i) const = 0;     // without reading the sample
  // False when the set has no labels (every label() is 0): nothing to train or score against.
  virtual bool labeled() const { return true; }
  // Bytes sample i occupies in storage (file size, record payload, pixels), cheap to ask.
  virtual uint64_t stored_bytes(int64_t i) const = 0;
  // Reads sample i into `out` (thread-safe; `scratch` is the caller's reusable buffer). Returns
  // the bytes read from storage. A bad sample throws DataCorrupt naming file, record and offset.
  virtual uint64_t read(int64_t i, Record& out, std::vector<uint8_t>& scratch) const = 0;
  // "records:/data/fmnist/train (2 shards)", for logs and summaries.
  virtual std::string describe() const = 0;
  // Where sample i lives, for errors about its content (an undecodable image): the file, or the
  // shard, record number and byte offset.
  virtual std::string where(int64_t i) const { return describe() + " sample " + std::to_string(i); }
};

using SourcePtr = std::shared_ptr<const SampleSource>;

}  // namespace scaledl

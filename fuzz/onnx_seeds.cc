// The ONNX seeds of fuzz/corpus/onnx (fuzz_make_corpus writes them): a small model through every
// node kind the exporter writes, in fp32 and int8 QDQ, and one of each kind of damage the
// importer must refuse with one line (tests/onnx/onnx_import_test.cc checks those lines).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <onnx/onnx_pb.h>

#include "core/rng.h"
#include "graph/graph.h"
#include "infer/passes/passes.h"
#include "onnx/export.h"

namespace fs = std::filesystem;

namespace {

// conv-bn-relu, a residual conv, max pool, LRN, channel pad, concat, global pool, linear,
// ReLU6 and softmax: 3x8x8 in, 5 out, every parameter seeded.
scaledl::Graph seed_graph() {
  using namespace scaledl;
  Graph g("seed", {3, 8, 8});
  int x = g.relu(g.bn(g.conv(g.input(), 4, 3, 1, 1, "c1"), "b1"));
  const int r = g.conv(x, 4, 3, 1, 1, "c2", 1, true);
  x = g.relu(g.add(r, x));
  x = g.maxpool(x, 2, 2);
  x = g.add(OpKind::lrn, LrnAttrs{3, 1e-3f, 0.75f, 1.f}, {x}, "lrn");
  const int p = g.channel_pad(x, 2);
  x = g.concat({p, x});
  x = g.global_avgpool(x);
  x = g.clip(g.linear(x, 6, "fc1"), 0.f, 6.f);
  g.add(OpKind::softmax, {}, {g.linear(x, 5, "fc2")}, "prob");
  Rng rng(3);
  for (Node& n : g.nodes()) {
    for (const ParamSpec& s : n.params) {
      Tensor t = Tensor::empty(s.shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = rng.normal(0.f, 0.5f);
      n.values[s.name] = std::move(t);
    }
    for (const BufferSpec& s : n.buffers) {
      Tensor t = Tensor::empty(s.shape);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = s.init + 0.25f * rng.uniform();
      n.values[s.name] = std::move(t);
    }
  }
  return g;
}

onnx::ModelProto load(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnx::ModelProto m;
  m.ParseFromString(bytes);
  return m;
}

void save(const onnx::ModelProto& m, const fs::path& p) {
  std::string bytes;
  m.SerializeToString(&bytes);
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

void write_onnx_seeds(const fs::path& dir) {
  using namespace scaledl;
  fs::create_directories(dir);
  const Graph g = seed_graph();
  onnxio::ExportOptions o;
  onnxio::export_onnx(g, (dir / "valid-fp32").string(), o);
  o.int8 = true;  // one threshold for every tensor the inference passes leave
  const Graph passed = passes::optimize_for_inference(g);
  for (const Node& n : passed.nodes()) o.thresholds[n.name] = 2.f;
  onnxio::export_onnx(g, (dir / "valid-int8").string(), o);
  const onnx::ModelProto good = load(dir / "valid-fp32");

  std::string bytes;
  good.SerializeToString(&bytes);
  std::ofstream(dir / "truncated", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));

  onnx::ModelProto m = good;  // 2^31 x 2^31 weights: refused before allocating
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, int64_t{1} << 31);
  m.mutable_graph()->mutable_initializer(0)->set_dims(1, int64_t{1} << 31);
  save(m, dir / "hostile-dims");

  m = good;  // the last node's output feeds the first node: a cycle
  m.mutable_graph()->mutable_node(0)->set_input(
      0, m.graph().node(m.graph().node_size() - 1).output(0));
  save(m, dir / "cycle");

  m = good;  // a weight the graph reads is gone
  m.mutable_graph()->mutable_initializer()->DeleteSubrange(0, 1);
  save(m, dir / "missing-initializer");

  m = good;  // external data that climbs out of the model's folder
  onnx::TensorProto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  onnx::StringStringEntryProto* e = t->add_external_data();
  e->set_key("location");
  e->set_value("../../etc/passwd");
  save(m, dir / "external-traversal");

  m = good;  // a stride of 0: libonnx 1.12's shape inference would divide by it (SIGFPE)
  for (onnx::AttributeProto& a : *m.mutable_graph()->mutable_node(0)->mutable_attribute())
    if (a.name() == "strides") a.set_ints(0, 0);
  save(m, dir / "zero-stride");

  m = good;  // an op scaledl does not run
  m.mutable_graph()->mutable_node(2)->set_op_type("Sigmoid");
  save(m, dir / "unsupported-op");

  m = good;  // an opset newer than the library
  m.mutable_opset_import(0)->set_version(19);
  save(m, dir / "newer-opset");

  save(onnx::ModelProto(), dir / "empty-model");
  std::ofstream(dir / "foreign", std::ios::binary) << "\x89PNG\r\n\x1a\n not a model";
}

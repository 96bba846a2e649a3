// ONNX import: parsing, the library's checker and shape inference, the graph's input and output,
// and the bookkeeping every op mapping uses (import_ops.cc maps the ops).
#include "onnx/import.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include "core/error.h"
#include "onnx/importer.h"

namespace scaledl::onnxio {

namespace fs = std::filesystem;
using namespace detail;

namespace {

constexpr int64_t kMaxOpset = 17;  // libonnx 1.12's newest
constexpr int64_t kMaxIr = 10;
constexpr int64_t kMaxCheckedIr = 8;  // what libonnx 1.12's checker accepts

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

// Window attributes in range before the library's shape inference sees them: libonnx 1.12
// divides by strides unchecked (a stride of 0 is a SIGFPE inside convPoolShapeInference).
void check_window_attributes(const onnx::GraphProto& g, const std::string& file) {
  for (const onnx::NodeProto& n : g.node()) {
    for (const onnx::AttributeProto& a : n.attribute()) {
      const std::string& k = a.name();
      const bool positive = k == "strides" || k == "dilations" || k == "kernel_shape";
      if (!positive && k != "pads") continue;
      for (int64_t v : a.ints())
        if (v < (positive ? 1 : 0) || v > (int64_t{1} << 16))
          throw Error("onnx", file + ": node " + n.name() + " (" + n.op_type() + "): " + k + " " +
                                  std::to_string(v) + " is out of range; re-export the model");
    }
  }
}

ImportedModel import_model(onnx::ModelProto& m, const TensorContext& cx) {
  const std::string& f = cx.file;
  if (!m.has_graph() || m.ir_version() <= 0)
    throw Error("onnx", f + ": not an ONNX model (no graph or IR version); give a .onnx file");
  if (m.ir_version() > kMaxIr)
    throw Error("onnx", f + ": IR version " + std::to_string(m.ir_version()) +
                            " is newer than scaledl reads (" + std::to_string(kMaxIr) +
                            "); re-export with opset_version=17");
  int64_t opset = -1;
  for (const onnx::OperatorSetIdProto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  if (opset < 7 || opset > kMaxOpset)
    throw Error("onnx", f + ": default-domain opset " + std::to_string(opset) + " is outside 7.." +
                            std::to_string(kMaxOpset) +
                            " (libonnx 1.12); re-export with opset_version=17");
  check_window_attributes(m.graph(), f);
  // External data only inside the model's folder, before the library's checker looks for it
  // (it resolves locations itself: from the working folder for a model in memory).
  for (const onnx::TensorProto& t : m.graph().initializer())
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      external_file(t, "tensor '" + t.name() + "'", cx);
  try {
    if (m.ir_version() <= kMaxCheckedIr) {
      if (cx.base_dir.empty())
        onnx::checker::check_model(m);
      else
        onnx::checker::check_model(f);  // from its file: external data beside it
    }
    onnx::ShapeInferenceOptions options{true, 1, false};
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    throw Error("onnx", f + ": invalid model: " + one_line(e.what()));
  }
  ImportedModel out;
  out.opset = opset;
  out.ir_version = m.ir_version();
  out.producer = m.producer_name() + " " + m.producer_version();
  for (const onnx::StringStringEntryProto& e : m.metadata_props()) {
    if (e.key() != "scaledl.mean" && e.key() != "scaledl.std") continue;
    std::vector<float>& v = e.key() == "scaledl.mean" ? out.mean : out.stddev;
    std::stringstream ss(e.value());
    std::string item;
    while (std::getline(ss, item, ',')) v.push_back(std::strtof(item.c_str(), nullptr));
  }
  Importer im(m, cx, opset);
  out.graph = im.run(out.input_name, out.output_name, out.qdq_pairs);
  return out;
}

}  // namespace

ImportedModel import_onnx_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("onnx", path + ": cannot open it; check the path");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes))
    throw Error("onnx", path + ": not an ONNX model (protobuf cannot parse its " +
                            std::to_string(bytes.size()) + " bytes: truncated or another format)");
  TensorContext cx{fs::absolute(path).parent_path().string(), path};
  return import_model(m, cx);
}

ImportedModel import_onnx_bytes(const void* data, size_t size, const std::string& name) {
  onnx::ModelProto m;
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !m.ParseFromArray(data, static_cast<int>(size)))
    throw Error("onnx", name + ": not an ONNX model (protobuf cannot parse it)");
  return import_model(m, TensorContext{"", name});
}

namespace detail {

Importer::Importer(const onnx::ModelProto& m, TensorContext cx, int64_t opset)
    : m_(m), cx_(std::move(cx)), opset_(opset) {}

void Importer::fail(const std::string& msg) const {
  std::string where = cx_.file + ": ";
  if (node_)
    where +=
        "node " +
        (node_->name().empty() ? node_->output_size() ? node_->output(0) : "?" : node_->name()) +
        " (" + node_->op_type() + "): ";
  throw Error("onnx", where + msg);
}

bool Importer::is_const(const std::string& name) const {
  return init_.count(name) || computed_.count(name);
}

Const Importer::constant(const std::string& name, bool ints) const {
  if (auto it = computed_.find(name); it != computed_.end()) return it->second;
  auto it = init_.find(name);
  if (it == init_.end()) fail("input '" + name + "' must be a constant (an initializer)");
  Const c;
  c.dims = checked_dims(*it->second, "tensor '" + name + "'", cx_);
  c.type = it->second->data_type();
  if (ints)
    c.i = to_ints(*it->second, "tensor '" + name + "'", cx_);
  else
    c.f = to_floats(*it->second, "tensor '" + name + "'", cx_);
  return c;
}

const Value& Importer::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  if (is_const(name)) fail("input '" + name + "' is a constant where scaledl needs an activation");
  fail("input '" + name +
       "' is not produced by an earlier node, an initializer or the graph input (a cycle, "
       "unsorted nodes or a missing initializer)");
}

int Importer::input_count() const {
  int n = node_->input_size();
  while (n > 0 && node_->input(n - 1).empty()) --n;
  return n;
}
std::string Importer::in(int k) const {
  return k < node_->input_size() ? node_->input(k) : std::string();
}

void Importer::set_out(const Value& v, int k) {
  if (k >= node_->output_size()) fail("has no output " + std::to_string(k));
  values_[node_->output(k)] = v;
}

int Importer::add(OpKind kind, Attrs attrs, std::vector<int> inputs, const std::string& suffix) {
  std::string name = node_->name().empty() ? node_->output(0) : node_->name();
  name += suffix;
  for (const Node& n : g_.nodes())
    if (n.name == name) {
      name.append("_").append(std::to_string(g_.size()));
      break;
    }
  try {
    return g_.add(kind, std::move(attrs), std::move(inputs), name);
  } catch (const Error& e) {
    fail(e.message());
  }
}

const onnx::AttributeProto* Importer::attr(const std::string& name) const {
  for (const onnx::AttributeProto& a : node_->attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t Importer::attr_int(const std::string& name, int64_t dflt) const {
  const onnx::AttributeProto* a = attr(name);
  return a ? a->i() : dflt;
}
float Importer::attr_float(const std::string& name, float dflt) const {
  const onnx::AttributeProto* a = attr(name);
  return a ? a->f() : dflt;
}
std::vector<int64_t> Importer::attr_ints(const std::string& name, std::vector<int64_t> dflt) const {
  const onnx::AttributeProto* a = attr(name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : dflt;
}
std::string Importer::attr_string(const std::string& name, const std::string& dflt) const {
  const onnx::AttributeProto* a = attr(name);
  return a ? a->s() : dflt;
}
void Importer::only_attrs(const std::vector<std::string>& known) const {
  for (const onnx::AttributeProto& a : node_->attribute()) {
    bool ok = false;
    for (const std::string& k : known) ok = ok || a.name() == k;
    if (!ok) fail("attribute '" + a.name() + "' is not supported; re-export without it");
  }
}

Graph Importer::run(std::string& input_name, std::string& output_name, int& qdq_pairs) {
  const onnx::GraphProto& gp = m_.graph();
  for (const onnx::TensorProto& t : gp.initializer()) init_[t.name()] = &t;
  for (const onnx::NodeProto& n : gp.node())
    for (const std::string& i : n.input()) ++readers_[i];
  for (const onnx::ValueInfoProto& o : gp.output()) ++readers_[o.name()];

  const onnx::ValueInfoProto* input = nullptr;
  for (const onnx::ValueInfoProto& v : gp.input()) {
    if (init_.count(v.name())) continue;  // IR < 4 lists initializers as inputs
    if (input)
      throw Error("onnx", cx_.file + ": has more than one input (" + input->name() + ", " +
                              v.name() + "); scaledl runs models with one image input");
    input = &v;
  }
  if (!input) throw Error("onnx", cx_.file + ": has no input");
  if (gp.output_size() != 1)
    throw Error("onnx", cx_.file + ": has " + std::to_string(gp.output_size()) +
                            " outputs; scaledl runs models with one output");
  const onnx::TypeProto& type = input->type();
  if (!type.has_tensor_type() || type.tensor_type().elem_type() != onnx::TensorProto::FLOAT)
    throw Error("onnx", cx_.file + ": input " + input->name() + " is not a float tensor");
  Shape sample;
  const onnx::TensorShapeProto& ts = type.tensor_type().shape();
  for (int k = 1; k < ts.dim_size(); ++k) {
    const int64_t d = ts.dim(k).has_dim_value() ? ts.dim(k).dim_value() : -1;
    if (d < 1 || d > (int64_t{1} << 20))
      throw Error("onnx", cx_.file + ": input " + input->name() + " dimension " +
                              std::to_string(k) +
                              " is not a fixed size in 1..2^20; export "
                              "with a fixed C, H and W (only the batch may vary)");
    sample.push_back(d);
  }
  if (sample.size() != 3 && sample.size() != 1)
    throw Error("onnx", cx_.file + ": input " + input->name() + " has rank " +
                            std::to_string(ts.dim_size()) + "; want [N, C, H, W] or [N, F]");
  if (shape_numel(sample) > (int64_t{1} << 28))
    throw Error("onnx", cx_.file + ": input " + input->name() + " " + shape_str(sample) +
                            " is too large a sample");
  g_ = Graph(gp.name().empty() ? "onnx" : gp.name(), sample);
  input_name = input->name();
  values_[input_name] = Value{0, sample};

  for (const onnx::NodeProto& n : gp.node()) {
    node_ = &n;
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail("operator domain '" + n.domain() + "' is not supported (only the default domain)");
    if (n.output_size() < 1) fail("has no output");
    map_node();
  }
  node_ = nullptr;
  output_name = gp.output(0).name();
  const Value& out = value(output_name);
  if (out.padded)
    throw Error("onnx", cx_.file + ": the output " + output_name + " is a Pad's result");
  if (out.node == 0)
    throw Error("onnx", cx_.file + ": the output " + output_name + " is the input itself");
  g_.set_output(out.node);
  g_.prune();
  qdq_pairs = qdq_pairs_;
  return std::move(g_);
}

}  // namespace detail

}  // namespace scaledl::onnxio

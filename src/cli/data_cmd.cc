// scaledl data: pack (sources -> record shards), plan (a rank's sample order), bench (input
// pipeline throughput), verify (shard checksums).
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/bytes.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "data/loader.h"
#include "data/pipeline.h"
#include "data/plan.h"
#include "data/record_set.h"
#include "data/source.h"

namespace scaledl::cli {

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

void drop_page_cache() {
  if (geteuid() != 0)
    throw Error("data", "--drop-caches needs root (it writes /proc/sys/vm/drop_caches); run as "
                        "root or leave it out");
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  f << "3\n";
  f.flush();
  if (!f)
    throw Error("data", "--drop-caches: cannot write /proc/sys/vm/drop_caches (a container "
                        "without that right?); leave it out");
}

struct PackArgs {
  std::string src, dst, shard_size = "128M";
  int threads = 0;
  int64_t image_size = 32;
};

Runner add_pack(CLI::App& data) {
  auto a = std::make_shared<PackArgs>();
  CLI::App* c = data.add_subcommand("pack", "Pack a data set into record shards with a manifest");
  c->add_option("SRC", a->src, "folder:DIR, csv:FILE, idx:DIR or synthetic[:N] (not npy:FILE)")
      ->required();
  c->add_option("DST", a->dst, "Output folder (absent or empty)")->required();
  c->add_option("--shard-size", a->shard_size, "Target shard size (e.g. 64M)")->capture_default_str();
  c->add_option("--threads", a->threads, "Packing threads (0: one per core)");
  c->add_option("--image-size", a->image_size, "Synthetic sources: image height = width")
      ->capture_default_str();
  return [a] {
    const DataSpec spec = parse_data_spec(a->src, "SRC");
    if (spec.kind == "npy")
      throw Error("data", "SRC " + a->src +
                              ": an npy file is not packed (record shards hold JPEG or u8 "
                              "pixels, npy f32 model inputs); train and evaluate on npy:FILE "
                              "directly, it is read by index");
    PackOptions po;
    po.shard_bytes = parse_bytes(a->shard_size, "--shard-size");
    po.threads = a->threads;
    const DataSplits splits = open_data(spec, a->image_size, 1);
    // Two splits go to DST/train and DST/test (records:DST then finds both); one goes to DST.
    const bool two = splits.test != nullptr;
    for (const auto& [name, src] : {std::pair{"train", splits.train}, std::pair{"test", splits.test}}) {
      if (!src) continue;
      const std::string dir = two ? a->dst + "/" + name : a->dst;
      po.prefix = name;
      const nlohmann::json m = pack_records(*src, dir, po);
      std::printf("%s: %lld samples, %lld shards, %.1f MB -> %s\n", src->describe().c_str(),
                  m["samples"].get<long long>(), static_cast<long long>(m["shards"].size()),
                  m["bytes"].get<double>() / 1e6, dir.c_str());
    }
    return 0;
  };
}

struct PlanArgs {
  std::string data, split = "train", shuffle = "full";
  int world = 1, rank = 0;
  int64_t epoch = 0, image_size = 32, batch = 0;
  uint64_t seed = 1;
};

Runner add_plan(CLI::App& data) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* c = data.add_subcommand("plan", "Print one rank's ordered sample keys for an epoch");
  c->add_option("--data", a->data,
                "records:DIR, folder:DIR, csv:FILE, idx:DIR, npy:FILE or synthetic[:N]")
      ->required();
  c->add_option("--world", a->world, "Ranks in the job")->capture_default_str();
  c->add_option("--rank", a->rank, "This rank")->capture_default_str();
  c->add_option("--epoch", a->epoch, "Epoch (from 0)")->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of the shuffle")->capture_default_str();
  c->add_option("--shuffle", a->shuffle, "full, none or buffer:K")->capture_default_str();
  c->add_option("--split", a->split, "train or test")->capture_default_str();
  c->add_option("--batch", a->batch,
                "With a batch size, only the samples training reads (whole batches, the same "
                "count on every rank); 0: the rank's whole share")
      ->capture_default_str();
  return [a] {
    check_rank(a->rank, a->world);
    if (a->batch < 0) throw Error("flags", "--batch must not be negative");
    if (a->epoch < 0) throw Error("flags", "--epoch must not be negative");
    const SourcePtr src = open_split(parse_data_spec(a->data), a->split, a->image_size, 1);
    std::vector<int64_t> order =
        rank_share(epoch_order(src->size(), parse_shuffle(a->shuffle), a->seed, a->epoch),
                   a->rank, a->world);
    if (a->batch > 0)
      order.resize(static_cast<size_t>(
          batches_per_epoch(src->size(), a->batch, a->world, LastBatch::drop) * a->batch));
    std::string out;
    for (int64_t i : order) out.append(src->key(i)).push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  };
}

struct BenchArgs {
  std::string data, split = "train", transform = "train", layout = "nchw", dtype = "f32";
  int threads = 0, prefetch = 2;
  int64_t image_size = 0, images = 2000, batch = 64;
  bool roi = true, drop_caches = false, json = false;
};

Runner add_bench(CLI::App& data) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* c = data.add_subcommand("bench", "Measure the input pipeline: images/s, MB/s, CPU");
  c->add_option("--data", a->data,
                "records:DIR, folder:DIR, csv:FILE, idx:DIR, npy:FILE or synthetic[:N]")
      ->required();
  c->add_option("--threads", a->threads, "Decode threads (0: one per core)")->capture_default_str();
  c->add_option("--image-size", a->image_size,
                "JPEG output and synthetic height = width (0: 224; npy: the stored size)")
      ->capture_default_str();
  c->add_option("--images", a->images, "Images to time (after one warm-up batch)")
      ->capture_default_str();
  c->add_option("--batch", a->batch, "Images per batch")->capture_default_str();
  c->add_option("--prefetch", a->prefetch, "Batches decoded ahead")->capture_default_str();
  c->add_option("--transform", a->transform, "train (random resized crop, flip) or eval "
                                             "(resize, centre crop)")
      ->check(CLI::IsMember({"train", "eval"}))
      ->capture_default_str();
  c->add_option("--layout", a->layout, "nchw or nhwc")->check(CLI::IsMember({"nchw", "nhwc"}))
      ->capture_default_str();
  c->add_option("--dtype", a->dtype, "f32 (normalized) or u8")->check(CLI::IsMember({"f32", "u8"}))
      ->capture_default_str();
  c->add_option("--split", a->split, "train or test")->capture_default_str();
  c->add_flag("--roi-decode,!--no-roi", a->roi, "Decode only the crop, DCT-scaled (JPEG)")
      ->capture_default_str();
  c->add_flag("--drop-caches", a->drop_caches, "Drop the page cache first (root)");
  c->add_flag("--json", a->json, "Print the result as one JSON object");
  return [a] {
    if (a->images < 1) throw Error("flags", "--images must be at least 1");
    const SourcePtr src =
        open_split(parse_data_spec(a->data), a->split, a->image_size ? a->image_size : 224, 1);
    PipelineOptions po;
    po.image_size = a->image_size;
    po.roi_decode = a->roi;
    po.layout = a->layout == "nchw" ? Layout::nchw : Layout::nhwc;
    po.dtype = a->dtype == "u8" ? DType::u8 : DType::f32;
    LoaderOptions lo;
    lo.batch = a->batch;
    lo.threads = a->threads;
    lo.prefetch = a->prefetch;
    lo.last = LastBatch::drop;
    Loader loader(src, make_transform(*src, a->transform == "train", po), lo);
    if (a->drop_caches) drop_page_cache();
    loader.next();  // warm-up: threads started, first files touched
    const LoaderStats s0 = loader.stats();
    const int64_t batches = (a->images + a->batch - 1) / a->batch;
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    auto last = t0;
    for (int64_t b = 0; b < batches; ++b) {
      loader.next();
      const auto now = Clock::now();
      if (!a->json && std::chrono::duration<double>(now - last).count() >= 1.0) {
        last = now;
        const double el = std::chrono::duration<double>(now - t0).count();
        const double rate = static_cast<double>((b + 1) * a->batch) / el;
        char line[160];
        std::snprintf(line, sizeof line, "bench: %lld/%lld images, %.0f images/s, ETA %.0fs",
                      static_cast<long long>((b + 1) * a->batch),
                      static_cast<long long>(batches * a->batch), rate,
                      static_cast<double>((batches - b - 1) * a->batch) / rate);
        log_progress(line);
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    const LoaderStats s1 = loader.stats();
    const int64_t images = batches * a->batch;
    const double mb = static_cast<double>(s1.bytes_read - s0.bytes_read) / 1e6;
    nlohmann::json r = {{"source", src->describe()}, {"transform", a->transform},
                        {"images", images}, {"seconds", secs},
                        {"images_per_sec", static_cast<double>(images) / secs},
                        {"mb_per_sec", mb / secs}, {"mb_read", mb},
                        {"cpu_percent", 100.0 * cpu / secs}, {"threads", loader.options().threads},
                        {"batch", a->batch}, {"image_size", loader.transform().out_height()},
                        {"roi_decode", a->roi}, {"layout", a->layout}, {"dtype", a->dtype},
                        {"drop_caches", a->drop_caches},
                        {"wait_seconds", s1.wait_seconds - s0.wait_seconds}};
    if (a->json) {
      std::printf("%s\n", r.dump().c_str());
    } else {
      log_progress("", true);
      std::printf("%s: %.0f images/s, %.1f MB/s, CPU %.0f%% (%d threads, %lld images in %.2f s, "
                  "ROI decode %s)\n",
                  src->describe().c_str(), r["images_per_sec"].get<double>(), mb / secs,
                  r["cpu_percent"].get<double>(), loader.options().threads,
                  static_cast<long long>(images), secs, a->roi ? "on" : "off");
    }
    return 0;
  };
}

Runner add_verify(CLI::App& data) {
  auto dir = std::make_shared<std::string>();
  auto deep = std::make_shared<bool>(false);
  CLI::App* c = data.add_subcommand("verify", "Check a record set's shards against its manifest");
  c->add_option("DIR", *dir, "Folder made by scaledl data pack")->required();
  c->add_flag("--deep", *deep, "Also parse every record");
  return [dir, deep] {
    const int64_t n = verify_records(*dir, *deep);
    std::printf("%s: %lld shards intact\n", dir->c_str(), static_cast<long long>(n));
    return 0;
  };
}

}  // namespace

Runner add_data(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Data sets: pack, plan, bench, verify");
  data->require_subcommand(1);
  Runner pack = add_pack(*data), plan = add_plan(*data), bench = add_bench(*data),
         verify = add_verify(*data);
  return [data, pack, plan, bench, verify] {
    if (data->got_subcommand("pack")) return pack();
    if (data->got_subcommand("plan")) return plan();
    if (data->got_subcommand("bench")) return bench();
    return verify();
  };
}

}  // namespace scaledl::cli

// scaledl info: version, backends compiled in, CPU ISA, threads.
#include <cstdio>

#include <oneapi/dnnl/dnnl.hpp>

#include "cli/commands.h"
#include "core/device_memory.h"
#include "core/threads.h"
#include "dist/mpi_group.h"
#include "ops/ops.h"

namespace scaledl::cli {

namespace {
const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
  }
}
}  // namespace

Runner add_info(CLI::App& app) {
  app.add_subcommand("info", "Version, backends, CPU ISA, threads");
  return [] {
    const dnnl_version_t* v = dnnl_version();
    std::printf("scaledl %s\n", SCALEDL_VERSION);
    std::printf("backends: cpu (oneDNN %d.%d.%d), reference%s\n", v->major, v->minor, v->patch,
                supports("conv2d_forward", Backend::cuda) ? ", cuda" : "; cuda not built");
    if (supports("conv2d_forward", Backend::cuda)) {
      std::printf("cuda libraries: %s\n", cuda_library_versions().c_str());
      if (cuda_device_count() == 0) std::printf("cuda devices: none (%s)\n", cuda_unavailable_reason());
      for (int i = 0; i < cuda_device_count(); ++i)
        std::printf("cuda:%d: %s\n", i, cuda_device_description(i).c_str());
    }
    const std::string mpi = mpi_library();
    std::printf("groups: single%s\n", mpi.empty() ? "; mpi not built" : (", mpi (" + mpi + ")").c_str());
    std::printf("cpu isa: %s\n", isa_name(dnnl::get_effective_cpu_isa()));
    std::printf("threads: %d (cores available: %d)\n", num_threads(), available_cores());
    return 0;
  };
}

}  // namespace scaledl::cli

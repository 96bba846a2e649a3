// Thread-count control through OpenMP.
#include "core/threads.h"

#include <omp.h>
#include <sched.h>

namespace scaledl {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return omp_get_num_procs();
}

void set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : available_cores()); }

int num_threads() { return omp_get_max_threads(); }

}  // namespace scaledl

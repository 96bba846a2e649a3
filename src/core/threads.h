// Thread-count control for the compute runtime (OpenMP, which oneDNN also uses).
#pragma once

namespace scaledl {

// Sets the number of compute threads; n <= 0 means one per core.
void set_num_threads(int n);
int num_threads();
// Cores this process may run on.
int available_cores();

}  // namespace scaledl

/* The peer for bench/comm_allreduce.sh: plain MPI_Allreduce (MPI_FLOAT, MPI_SUM,
 * MPI_COMM_WORLD, in place like scaledl's group) in a loop at one size, timed the way
 * `scaledl comm bench` times it: WARMUP untimed calls, a barrier, ITERS timed calls, the mean
 * per call on each rank, the slowest rank's mean reported. Then one call on fresh inputs is
 * checked exactly (same input values as scaledl's bench).
 * usage: mpirun -n N mpi_allreduce_loop BYTES [ITERS [WARMUP]]   (defaults 20, 5)
 * Prints one JSON object on rank 0: bytes, count, time_us, algbw_gbps, busbw_gbps, wrong. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static float value(int rank, long long i) {
  return (float)(i % 1021 + 1 + 2048LL * rank);
}

static void fill(float* x, long long n, int rank) {
  for (long long i = 0; i < n; ++i) x[i] = value(rank, i);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (argc < 2) {
    if (rank == 0) fprintf(stderr, "usage: mpi_allreduce_loop BYTES [ITERS [WARMUP]]\n");
    MPI_Finalize();
    return 2;
  }
  const long long bytes = atoll(argv[1]);
  const int iters = argc > 2 ? atoi(argv[2]) : 20, warmup = argc > 3 ? atoi(argv[3]) : 5;
  const long long count =
      bytes / (long long)sizeof(float) > 0 ? bytes / (long long)sizeof(float) : 1;
  if (count > 2147483647LL || iters < 1 || warmup < 0) {
    if (rank == 0) fprintf(stderr, "mpi_allreduce_loop: BYTES up to 8 GB, ITERS >= 1\n");
    MPI_Finalize();
    return 2;
  }
  float* x = malloc((size_t)count * sizeof(float));
  if (!x) MPI_Abort(MPI_COMM_WORLD, 1);
  fill(x, count, rank);
  for (int i = 0; i < warmup; ++i)
    MPI_Allreduce(MPI_IN_PLACE, x, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i)
    MPI_Allreduce(MPI_IN_PLACE, x, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  double mine = (MPI_Wtime() - t0) / iters, slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);

  fill(x, count, rank);
  MPI_Allreduce(MPI_IN_PLACE, x, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  long long bad = 0, total = 0;
  const long long w = world;
  for (long long i = 0; i < count; ++i)
    bad += x[i] != (float)(w * (i % 1021 + 1) + 2048 * w * (w - 1) / 2);
  MPI_Reduce(&bad, &total, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);

  if (rank == 0) {
    const double b = (double)count * sizeof(float), algbw = b / slowest / 1e9;
    printf(
        "{\"bytes\": %.0f, \"count\": %lld, \"ranks\": %d, \"time_us\": %.2f, "
        "\"algbw_gbps\": %.4f, \"busbw_gbps\": %.4f, \"wrong\": %lld}\n",
        b, count, world, slowest * 1e6, algbw, algbw * 2.0 * (world - 1) / world, total);
  }
  free(x);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}

#!/usr/bin/env bash
# Checks scripts/bundle on a built scaledl: no GPU, no network. Makes a bundle in a temp folder and
# checks (1) ldd with an empty LD_LIBRARY_PATH resolves every library but glibc's and CUDA's inside
# the bundle's lib/ (the binary and every bundled plugin); (2) moved to another folder, `scaledl
# info` exits 0 and loads no library from outside the bundle but glibc's; (3) SCALEDL_CUDA_LIBS
# comes first in the launcher's search order; (4) bad input exits 2; (5) under mpirun (when
# there is one) two ranks run a collective with the bundled Open MPI components.
# usage: bundle_test.sh PATH/TO/scaledl   exit 0 pass, 1 fail (one line why), 77 a tool is missing
set -uo pipefail
bin=${1:?usage: bundle_test.sh PATH/TO/scaledl}
fail() { echo "bundle_test: FAIL $*" >&2; exit 1; }
for tool in patchelf ldd readelf objdump sha256sum; do
  command -v "$tool" >/dev/null || { echo "bundle_test: skip: '$tool' is not installed (scripts/setup installs patchelf)" >&2; exit 77; }
done
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$bin" ] || fail "'$bin' is not an executable"
[ "$(basename "$bin")" = scaledl ] || fail "'$bin' is not named scaledl (scripts/bundle takes its folder)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log="$tmp/log"
# Host libraries by name: glibc's set and the CUDA family (the launcher finds those on the host).
host_lib() {
  case "$1" in
    linux-vdso.so.* | ld-linux* | libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | \
      libresolv.so.* | libutil.so.* | libmvec.so.* | libanl.so.* | libcuda.so* | libcudart.so* | \
      libcublas* | libcudnn* | libnccl.so* | libnvrtc* | libnvJitLink* | libcufft* | libcurand* | \
      libcusparse* | libcusolver* | libcupti* | libnvToolsExt* | libnvblas* | libcufile* | libnpp* | \
      libnvjpeg* | libnvidia-*) return 0 ;;
  esac
  return 1
}

"$repo/scripts/bundle" --build "$(dirname "$bin")" --out "$tmp/b1" >"$log" 2>&1 ||
  fail "scripts/bundle exited $?: $(tail -n 1 "$log")"
for f in scaledl bin/scaledl bundle.json; do [ -f "$tmp/b1/$f" ] || fail "bundle has no $f"; done
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["files"] and m["scaledl"]["git_commit"]' \
    "$tmp/b1/bundle.json" 2>/dev/null || fail "bundle.json is not valid JSON with files and git_commit"
fi

# (1) every ELF in the bundle resolves its non-host libraries inside lib/, with no help.
lib=$(cd "$tmp/b1/lib" && pwd -P)
while IFS= read -r elf; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    host_lib "$name" && continue
    [ "$path" != not ] || fail "(1) ldd: ${elf#"$tmp"/} needs $name, not found with LD_LIBRARY_PATH empty"
    real=$(readlink -f "$path")
    case "$real" in "$lib"/*) ;; *) fail "(1) ldd: ${elf#"$tmp"/} takes $name from $path, outside the bundle" ;; esac
  done < <(env LD_LIBRARY_PATH= ldd "$elf" 2>/dev/null)
done < <(find "$tmp/b1/bin" "$tmp/b1/lib" -type f -name 'scaledl' -o -type f -name '*.so*')

# (2) relocation: move the bundle, run it; only glibc comes from outside.
mkdir -p "$tmp/elsewhere/deeper"
mv "$tmp/b1" "$tmp/elsewhere/deeper/b2"
b2="$tmp/elsewhere/deeper/b2"
env -u LD_LIBRARY_PATH "$b2/scaledl" info >"$log" 2>&1 || fail "(2) moved bundle: 'scaledl info' exited $?: $(tail -n 1 "$log")"
grep -q '^scaledl ' "$log" || fail "(2) moved bundle: 'scaledl info' printed no version line"
outside=$(env -u LD_LIBRARY_PATH LD_DEBUG=libs "$b2/bin/scaledl" info 2>&1 >/dev/null |
  sed -n 's/.*calling init: //p' | grep -v "^$b2/" | while read -r p; do host_lib "$(basename "$p")" || echo "$p"; done)
[ -z "$outside" ] || fail "(2) moved bundle loaded $(echo "$outside" | tr '\n' ' ')from outside the bundle"

# (3) SCALEDL_CUDA_LIBS comes first.
mkdir -p "$tmp/fake-cuda"
fake=$(cd "$tmp/fake-cuda" && pwd)
SCALEDL_CUDA_LIBS="$fake" SCALEDL_BUNDLE_DEBUG=1 "$b2/scaledl" info >"$log" 2>&1 ||
  fail "(3) 'scaledl info' with SCALEDL_CUDA_LIBS exited $?: $(tail -n 1 "$log")"
grep -q "^scaledl-bundle: cuda library folder 1: $fake (SCALEDL_CUDA_LIBS)$" "$log" ||
  fail "(3) SCALEDL_CUDA_LIBS=$fake is not the first cuda library folder: $(grep 'folder 1' "$log")"
grep -q "^scaledl-bundle: LD_LIBRARY_PATH=$fake\(:\|$\)" "$log" ||
  fail "(3) LD_LIBRARY_PATH does not start with $fake: $(grep LD_LIBRARY_PATH= "$log")"

# (4) bad input: one line, exit 2.
for args in "--frobnicate" "--build $tmp/no-such-dir" "--build $tmp/fake-cuda"; do
  # shellcheck disable=SC2086
  "$repo/scripts/bundle" $args --out "$tmp/b3" >"$log" 2>&1
  code=$?
  [ "$code" = 2 ] || fail "(4) scripts/bundle $args exited $code, want 2"
  [ "$(wc -l <"$log")" = 1 ] || fail "(4) scripts/bundle $args printed $(wc -l <"$log") lines, want 1"
done

# (5) two ranks under mpirun use the bundled Open MPI components.
if command -v mpirun >/dev/null && [ -d "$b2/lib/openmpi" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mkdir -p "$tmp/ld"
  timeout -k 5 60 mpirun -n 2 --oversubscribe --mca btl self,vader,tcp \
    env LD_DEBUG=libs LD_DEBUG_OUTPUT="$tmp/ld/rank" "$b2/scaledl" comm bench --op allreduce \
    --max-bytes 4K --iters 1 --warmup 0 --timeout 20 >"$log" 2>&1 || fail "(5) mpirun -n 2 bundle/scaledl comm bench exited $?: $(tail -n 1 "$log")"
  ranks=$(grep -l 'calling init: .*libmpi\.so' "$tmp"/ld/rank.* | wc -l)
  [ "$ranks" = 2 ] || fail "(5) found $ranks ranks that loaded libmpi, want 2"
  host_comps=$(grep -h 'calling init: .*/mca_[a-z]*_.*\.so' "$tmp"/ld/rank.* | grep -vc "$b2/")
  [ "$host_comps" = 0 ] || fail "(5) the ranks loaded $host_comps Open MPI components from outside the bundle"
  grep -q "calling init: $b2/lib/openmpi/mca_" "$tmp"/ld/rank.* || fail "(5) the ranks loaded no bundled Open MPI component"
  mpi="; mpirun -n 2 ok"
fi
echo "bundle_test: pass: ldd resolves inside lib/, moved bundle runs on glibc alone, SCALEDL_CUDA_LIBS first, bad input exits 2${mpi:-; no mpirun, multi-process not checked}"

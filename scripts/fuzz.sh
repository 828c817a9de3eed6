#!/usr/bin/env bash
# Runs one libFuzzer target under clang for a while, starting from its stored
# corpus. New interesting inputs go to build-fuzz/corpus/NAME (copy the ones
# worth keeping into tests/fuzz/corpus/NAME); crashes go to
# build-fuzz/artifacts/ and belong in the stored corpus once fixed.
# Usage: scripts/fuzz.sh NAME [SECONDS]      scripts/fuzz.sh list
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-list}
secs=${2:-60}
if [ "$name" = list ]; then
  ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||'
  exit 0
fi
[ -f "tests/fuzz/fuzz_$name.c" ] || { echo "fuzz.sh: no target tests/fuzz/fuzz_$name.c" >&2; exit 2; }
bash scripts/bootstrap.sh --with-fuzz
cmake -S . -B build-fuzz -DFL_FUZZ=ON -DFL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j2 --target "fuzz_$name"
mkdir -p "build-fuzz/corpus/$name" build-fuzz/artifacts
cp -n "tests/fuzz/corpus/$name"/* "build-fuzz/corpus/$name/" 2>/dev/null || true
exec "build-fuzz/bin/fuzz_$name" -max_total_time="$secs" -artifact_prefix=build-fuzz/artifacts/ \
  "build-fuzz/corpus/$name"

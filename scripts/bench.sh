#!/usr/bin/env bash
# Runs one benchmark: scripts/bench.sh NAME [args...] builds filmless and runs
# build/bin/bench_NAME. Every figure is printed as
#   BENCH <name> <value> <unit> ref=<reference> <value> ratio=<r>
# with its reference measured in the same run. `scripts/bench.sh list` lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-list}
shift || true
bash scripts/build.sh build >/dev/null
if [ "$name" = list ] || [ ! -x "build/bin/bench_$name" ]; then
  [ "$name" = list ] || echo "bench.sh: no benchmark named '$name'" >&2
  echo "benchmarks:" $(cd build/bin && ls bench_* 2>/dev/null | sed 's/^bench_//')
  [ "$name" = list ]; exit $?
fi
exec "build/bin/bench_$name" "$@"

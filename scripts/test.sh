#!/usr/bin/env bash
# The test command: bootstraps, builds, and runs every test.
#   1. build/       (gcc, RelWithDebInfo): unit, fuzz-corpus replay and
#                   integration tests
#   2. build-asan/  (gcc, ASan+UBSan, -fno-sanitize-recover): unit tests and
#                   fuzz-corpus replay
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -R test_ec
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

bash scripts/build.sh build
(cd build && ctest --output-on-failure -j2 "$@")

bash scripts/build.sh build-asan -DFL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j2 -L 'unit|fuzz' "$@")

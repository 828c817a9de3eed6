#!/usr/bin/env bash
# Configures and builds filmless into build/ (binaries in build/bin/).
# Usage: scripts/build.sh [BUILD_DIR [extra cmake args...]]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j2

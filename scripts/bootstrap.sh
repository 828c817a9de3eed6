#!/usr/bin/env bash
# Installs exactly the Debian 12 packages that filmless needs to build, test
# and run. Does nothing (and needs no network) when all are present.
# Usage: scripts/bootstrap.sh [--with-fuzz]   (--with-fuzz adds clang)
set -euo pipefail

PKGS=(
  # toolchain
  gcc g++ make cmake pkg-config
  # event loop, TCP, thread pool
  libuv1-dev
  # the node index and the coordinator's map
  librocksdb-dev
  # erasure coding; libisal2 explicitly: liberasurecode only Suggests it and
  # without it the isa_l_rs_vand backend silently disappears
  liberasurecode-dev liberasurecode1 libisal2 libisal-dev
  # TLS, AES-GCM, SHA-256
  libssl-dev
  # wire messages
  libprotobuf-c-dev protobuf-c-compiler
  # DICOM parsing (behind common/fl_dicom.cpp); zlib for deflated data sets
  libgdcm-dev zlib1g-dev
  # INI configuration
  libinih-dev
  # dcmdump: tests check generated studies with a second DICOM reader, and
  # re-encode them (dcmtk; gdcmconv from libgdcm-tools for JPEG 2000)
  dcmtk libgdcm-tools
)
if [ "${1:-}" = "--with-fuzz" ]; then
  PKGS+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bootstrap: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

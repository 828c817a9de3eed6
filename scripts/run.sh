#!/usr/bin/env bash
# One command from a fresh checkout to a verified round trip: installs what
# is missing, builds, starts a local cluster (scripts/cluster.sh: 6 nodes,
# policy 4+2, under ./.cluster/), generates a CT study, stores it, fetches it
# back and compares every byte, then says what to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh build >/dev/null
bin=$(pwd)/build/bin
bash scripts/cluster.sh start --nodes "${FILMLESS_NODES:-6}"
eval "$(bash scripts/cluster.sh env)"
export FILMLESS_COORD
demo=.cluster/demo
rm -rf "$demo/in" "$demo/out"
mkdir -p "$demo"
"$bin/filmless" gen --modality CT --out "$demo/in" --seed "${FILMLESS_SEED:-1}" | tee "$demo/gen.txt"
study=$(sed -n 's/.*study \([0-9.]*\).*/\1/p' "$demo/gen.txt")
"$bin/filmless" put --quiet "$demo/in"
"$bin/filmless" get "$study" -o "$demo/out"
# Files are named by SOP Instance UID on the way out: compare contents.
sums() { (cd "$1" && sha256sum -- *.dcm | cut -d' ' -f1 | sort); }
if [ "$(sums "$demo/in")" != "$(sums "$demo/out")" ] ||
   [ "$(ls "$demo/in" | wc -l)" != "$(ls "$demo/out" | wc -l)" ]; then
  echo "run.sh: the study read back differs from what was stored" >&2
  exit 1
fi
echo
echo "Round trip verified: $(ls "$demo/out" | wc -l) instances of study $study, byte for byte."
cat <<EOT

Try next (the cluster keeps running; data and logs in .cluster/):
  export FILMLESS_COORD=$FILMLESS_COORD
  build/bin/filmless ls                        # the tenant's studies
  build/bin/filmless ls $study --json
  kill \$(cat .cluster/node1.pid) \$(cat .cluster/node2.pid)   # lose m = 2 nodes
  build/bin/filmless get $study -o /tmp/again  # still reads back
  scripts/cluster.sh start                     # bring them back
  build/bin/filmless rm --yes $study
  scripts/cluster.sh stop
EOT

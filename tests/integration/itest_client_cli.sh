#!/usr/bin/env bash
# Integration test of the cluster commands through scripts/cluster.sh: a
# local cluster of 6 real nodes, `filmless put` of a folder holding a CT
# study and a file that is not DICOM (skipped, not a failure), `ls` and
# `ls --json`, `get` byte-exact, a changed instance refused (exit 1), `rm`
# without --yes refused off a terminal, `rm --yes`, then stop; start and
# stop are idempotent. Env: FL_BIN (build/bin), FL_TMP, FL_SRC.
set -euo pipefail
B="${FL_BIN:?FL_BIN must point at build/bin}/filmless"
SRC="${FL_SRC:?FL_SRC must name the source tree}"
T="${FL_TMP:?FL_TMP must name a scratch directory}/itest_client_cli.$$"
# Fixed ports below the kernel's ephemeral range (32768+), where the client
# side of other tests' connections could already hold them.
export FILMLESS_CLUSTER_DIR="$T/cluster" FILMLESS_BASE_PORT=$((12000 + RANDOM % 15000))
export FL_BIN FILMLESS_TENANT=clinic-7
CL="$SRC/scripts/cluster.sh"
rm -rf "$T"
mkdir -p "$T"
cleanup() { bash "$CL" stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$FILMLESS_CLUSTER_DIR"/*.log; do tail -5 "$f" >&2; done; exit 1; }

for c in put get ls rm; do "$B" $c --help | grep -q "usage: filmless $c" || fail "$c --help"; done
bash "$CL" start >/dev/null || fail "cluster start"
bash "$CL" start >/dev/null || fail "second cluster start"
bash "$CL" status >/dev/null || fail "status after start"
eval "$(bash "$CL" env)"
export FILMLESS_COORD

mkdir -p "$T/in"
"$B" gen --modality CT --instances 24 --seed 5 --out "$T/in/ct" >/dev/null
study=$("$B" inspect --json "$T/in/ct/ct_00001.dcm" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['study_uid'])")
echo "not a DICOM file" > "$T/in/notes.txt"
"$B" put --quiet "$T/in" > "$T/put.out" 2> "$T/put.err" || fail "put exited $?: $(cat "$T/put.err")"
grep -q "24 stored" "$T/put.out" || fail "put summary: $(cat "$T/put.out")"
grep -q "1 skipped" "$T/put.out" || fail "put did not skip notes.txt"
grep -q "notes.txt" "$T/put.err" || fail "skip reason does not name the file"

"$B" ls | grep -q "^$study " || fail "ls does not list the study"
"$B" ls --json "$study" | python3 -c "
import json,sys
d=json.load(sys.stdin)
assert d['study_uid']=='$study'
assert len(d['instances'])==24, len(d['instances'])
assert all(i['fragments']==6 and not i['replicated'] for i in d['instances'])
" || fail "ls --json of the study"
"$B" ls --tenant other | grep -q "^0 studies" || fail "another tenant sees the study"

"$B" get "$study" -o "$T/out" >/dev/null || fail "get"
sums() { (cd "$1" && sha256sum -- *.dcm | cut -d' ' -f1 | sort); }
[ "$(sums "$T/in/ct")" = "$(sums "$T/out")" ] || fail "get is not byte-exact"
[ "$(ls "$T/out" | wc -l)" = 24 ] || fail "get wrote $(ls "$T/out" | wc -l) files"

# Same bytes again: nothing changes. Other bytes under a stored UID: refused.
"$B" put --quiet "$T/in/ct" | grep -q "24 already present" || fail "re-put"
mkdir -p "$T/changed"
python3 - "$T/in/ct/ct_00002.dcm" "$T/changed/x.dcm" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[-3] ^= 0xff
open(sys.argv[2], 'wb').write(b)
PY
set +e; "$B" put --quiet "$T/changed" > /dev/null 2> "$T/chg.err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "changed instance: exit $rc"
grep -q "FL_EEXIST" "$T/chg.err" || fail "changed instance: $(cat "$T/chg.err")"

set +e; "$B" rm "$study" < /dev/null > /dev/null 2>&1; rc=$?; set -e
[ "$rc" = 2 ] || fail "rm without --yes off a terminal exited $rc"
"$B" rm --yes "$study" | grep -q "24 instances" || fail "rm --yes"
"$B" ls | grep -q "^0 studies" || fail "study still listed after rm"
set +e; "$B" get "$study" -o "$T/out2" > /dev/null 2>&1; rc=$?; set -e
[ "$rc" = 1 ] || fail "get of a deleted study exited $rc"

bash "$CL" stop >/dev/null || fail "stop"
bash "$CL" stop >/dev/null || fail "second stop"
set +e; bash "$CL" status >/dev/null; rc=$?; set -e
[ "$rc" != 0 ] || fail "status after stop says up"
echo "itest_client_cli: ok"

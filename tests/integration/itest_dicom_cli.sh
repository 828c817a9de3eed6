#!/usr/bin/env bash
# Integration test of `filmless gen` and `filmless inspect` against a second
# DICOM implementation (dcmtk): every generated file passes dcmdump without a
# warning, output is byte-identical for a seed, files re-encoded by dcmtk (and
# GDCM for JPEG 2000) keep their identity, bad files fail with one line each.
# Env: FL_BIN (build/bin), FL_TMP (scratch directory).
set -euo pipefail
B="${FL_BIN:?FL_BIN must point at build/bin}/filmless"
T="${FL_TMP:?FL_TMP must name a scratch directory}/itest_dicom_cli.$$"
rm -rf "$T"
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { # field FILE NAME: one value of `filmless inspect --json` for FILE
  "$B" inspect --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['$2'])"
}

# --- command line -------------------------------------------------------------
"$B" --help | grep -q "inspect" || fail "--help lists no inspect"
"$B" --version | grep -q "^filmless " || fail "--version"
"$B" gen --help | grep -q -- "--modality" || fail "gen --help"
"$B" inspect --help | grep -q -- "--json" || fail "inspect --help"
expect_usage() { # expect_usage ARGS...: exit 2 and a message on stderr
  set +e; "$B" "$@" >/dev/null 2>"$T/err"; rc=$?; set -e
  [ "$rc" = 2 ] || fail "'filmless $*' exited $rc, expected 2"
  [ -s "$T/err" ] || fail "'filmless $*' printed no error"
}
expect_usage
expect_usage frobnicate
expect_usage --bogus
expect_usage gen --out "$T/x"
expect_usage gen --modality XX --out "$T/x"
expect_usage gen --modality CT
expect_usage gen --modality CT --out "$T/x" --instances 0
expect_usage gen --modality CT --out "$T/x" --seed -1
expect_usage gen --modality CT --out "$T/x" --study-uid 1.02.3
expect_usage gen --modality CT --out "$T/x" --bogus
expect_usage inspect
expect_usage inspect --bogus "$T/x"

# --- every modality, small: dcmdump, inspect, one study UID ------------------
declare -A COUNT=([CT]=3 [MR]=3 [DX]=1 [MG]=1 [SR]=2)
for m in CT MR DX MG SR; do
  extra=()
  [ "$m" = MG ] && extra=(--frames 4)
  out=$("$B" gen --modality "$m" --out "$T/$m" --instances "${COUNT[$m]}" --seed 11 "${extra[@]}")
  study=$(echo "$out" | awk '{print $NF}')
  n=$(ls "$T/$m"/*.dcm | wc -l)
  [ "$n" = "${COUNT[$m]}" ] || fail "$m: $n files, expected ${COUNT[$m]}"
  for f in "$T/$m"/*.dcm; do
    dcmdump "$f" >/dev/null 2>"$T/err" || fail "dcmdump failed on $f: $(cat "$T/err")"
    [ -s "$T/err" ] && fail "dcmdump warned on $f: $(cat "$T/err")"
  done
  "$B" inspect "$T/$m"/*.dcm >"$T/txt" || fail "inspect $m"
  grep -q "modality          $m" "$T/txt" || fail "inspect $m text lacks the modality"
  "$B" inspect --json "$T/$m"/*.dcm >"$T/json" || fail "inspect --json $m"
  python3 - "$T/json" "$study" "$m" "${COUNT[$m]}" <<'PY' || fail "inspect --json $m content"
import json, sys
d = json.load(open(sys.argv[1]))
study, mod, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
assert len(d) == n, d
assert all(x["ok"] and x["study_uid"] == study and x["modality"] == mod for x in d), d
assert len({x["series_uid"] for x in d}) == 1
assert len({x["sop_uid"] for x in d}) == n
assert all(x["transfer_syntax_uid"] == "1.2.840.10008.1.2.1" and x["has_part10"] for x in d)
assert sorted(x["instance_number"] for x in d) == list(range(1, n + 1))
PY
done
[ "$(field "$T/MG/mg_00001.dcm" number_of_frames)" = 4 ] || fail "MG frames"

# --- determinism and caller-given identity ----------------------------------
"$B" gen --modality CT --out "$T/d1" --instances 2 --seed 99 >/dev/null
"$B" gen --modality CT --out "$T/d2" --instances 2 --seed 99 >/dev/null
"$B" gen --modality CT --out "$T/d3" --instances 2 --seed 98 >/dev/null
for f in ct_00001.dcm ct_00002.dcm; do
  cmp -s "$T/d1/$f" "$T/d2/$f" || fail "same seed, different bytes: $f"
  cmp -s "$T/d1/$f" "$T/d3/$f" && fail "different seeds, same bytes: $f"
done
"$B" gen --modality SR --out "$T/id" --study-uid 1.2.826.0.1.3680043.2.1 --patient-id P-77 >/dev/null
[ "$(field "$T/id/sr_00001.dcm" study_uid)" = 1.2.826.0.1.3680043.2.1 ] || fail "--study-uid"
[ "$(field "$T/id/sr_00001.dcm" patient_id)" = P-77 ] || fail "--patient-id"

# --- full-size studies: sizes per modality -----------------------------------
check_size() { # check_size MOD COUNT MIN_BYTES MAX_BYTES (per file)
  "$B" gen --modality "$1" --out "$T/full" --seed 5 >/dev/null
  n=$(ls "$T/full"/*.dcm | wc -l)
  [ "$n" = "$2" ] || fail "$1 full: $n files, expected $2"
  for f in "$T/full"/*.dcm; do
    s=$(stat -c %s "$f")
    [ "$s" -ge "$3" ] && [ "$s" -le "$4" ] || fail "$1 full: $f is $s bytes"
  done
  "$B" inspect "$T/full"/*.dcm >/dev/null || fail "inspect $1 full"
  rm -rf "$T/full"
}
check_size CT 300 520000 530000
check_size MR 200 130000 135000
check_size DX 1 29000000 31000000
check_size MG 1 100000000 110000000
check_size SR 1 1000 10000

# --- other transfer syntaxes keep the identity --------------------------------
src="$T/CT/ct_00001.dcm"
sop=$(field "$src" sop_uid)
study=$(field "$src" study_uid)
series=$(field "$src" series_uid)
dcmconv +ti "$src" "$T/ts_implicit.dcm"
dcmconv +tb "$src" "$T/ts_bigendian.dcm"
dcmconv +td "$src" "$T/ts_deflated.dcm"
dcmcrle "$src" "$T/ts_rle.dcm"
dcmcjpeg "$src" "$T/ts_jpeg.dcm"
dcmcjpeg +e1 "$src" "$T/ts_jpegll.dcm"
dcmcjpls "$src" "$T/ts_jpegls.dcm"
dcmconv -F +ti "$src" "$T/ts_rawdataset.dcm"
# dcmtk has no JPEG 2000 encoder; GDCM's tool (libgdcm-tools) has one.
gdcmconv --j2k "$src" "$T/ts_j2k.dcm" || fail "gdcmconv --j2k failed"
for f in "$T"/ts_*.dcm; do
  "$B" inspect --json "$f" >"$T/json" || fail "inspect $f: $(cat "$T/json")"
  python3 - "$T/json" "$sop" "$study" "$series" "$f" <<'PY' || fail "identity changed in $f"
import json, sys
d = json.load(open(sys.argv[1]))[0]
assert (d["sop_uid"], d["study_uid"], d["series_uid"]) == tuple(sys.argv[2:5]), d
assert d["has_part10"] == (not sys.argv[5].endswith("rawdataset.dcm")), d
PY
done
[ "$(field "$T/ts_deflated.dcm" transfer_syntax_uid)" = 1.2.840.10008.1.2.1.99 ] || fail "deflate TS"
[ "$(field "$T/ts_rle.dcm" transfer_syntax_uid)" = 1.2.840.10008.1.2.5 ] || fail "RLE TS"

# --- bad files: non-zero exit, one line naming each file ----------------------
: >"$T/bad_empty.dcm"
echo "not a DICOM file" >"$T/bad_text.dcm"
head -c 300000 "$src" >"$T/bad_truncated.dcm"
head -c 5000 /dev/urandom >"$T/bad_garbage.dcm"
mkdir "$T/bad_dir.dcm"
for f in bad_empty bad_text bad_truncated bad_garbage bad_dir bad_missing; do
  set +e; "$B" inspect "$T/$f.dcm" >/dev/null 2>"$T/err"; rc=$?; set -e
  [ "$rc" = 1 ] || fail "inspect $f exited $rc, expected 1"
  [ "$(wc -l <"$T/err")" = 1 ] || fail "inspect $f: not one line: $(cat "$T/err")"
  grep -q "$f.dcm" "$T/err" || fail "inspect $f: line does not name the file"
done
set +e; "$B" inspect "$src" "$T/bad_truncated.dcm" >"$T/out" 2>"$T/err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "good+bad exited $rc"
grep -q "$sop" "$T/out" || fail "good file not printed beside a bad one"
grep -q "truncated" "$T/err" || fail "truncation not named: $(cat "$T/err")"
set +e; "$B" inspect --json "$T/bad_text.dcm" >"$T/json" 2>/dev/null; set -e
python3 -c "import json,sys; d=json.load(open('$T/json'))[0]; assert not d['ok'] and d['error']=='FL_ENOTDICOM'" \
  || fail "json error object"
echo "itest_dicom_cli: ok"

#!/usr/bin/env bash
# A local filmless cluster on 127.0.0.1: a coordinator and N storage nodes
# (default 6, policy 4+2) with data, logs and pids under ./.cluster/
# (FILMLESS_CLUSTER_DIR).
#   scripts/cluster.sh start [--nodes N]   idempotent: running processes are kept
#   scripts/cluster.sh stop                idempotent: SIGTERM, then wait
#   scripts/cluster.sh status
#   scripts/cluster.sh env                 prints the FILMLESS_COORD to export
# The coordinator listens on 127.0.0.1:7000 (the address every `filmless`
# command uses by default), node i on 7100+i (FILMLESS_BASE_PORT overrides
# 7100; the coordinator then takes BASE-100). Without a filmless-coord
# binary (or with FILMLESS_NO_COORD=1) the nodes run standalone and clients
# use a static map naming them (FILMLESS_COORD=static:K+M:ADDR,...;
# docs/client.md). FILMLESS_NODE_FLAGS adds flags to every node (e.g.
# "--repair-rate 20MB/s").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${FILMLESS_CLUSTER_DIR:-$root/.cluster}
bin=${FL_BIN:-$root/build/bin}
base=${FILMLESS_BASE_PORT:-7100}
cport=$((base - 100))
cmd=${1:-status}
shift || true
case "$cmd" in -h|--help|help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
nodes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
    --nodes=*) nodes=${1#--nodes=}; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
if [ -z "$nodes" ]; then
  nodes=$(cat "$dir/nodes" 2>/dev/null || echo 6)
fi
case "$nodes" in ''|*[!0-9]*) echo "cluster.sh: --nodes needs a number" >&2; exit 2 ;; esac
[ "$nodes" -ge 3 ] || { echo "cluster.sh: at least 3 nodes" >&2; exit 2; }

# Policy: 4+2 with 6 or more nodes, otherwise (N-2)+2.
m=2
k=$(( nodes >= 6 ? 4 : nodes - m ))

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Running and serving: keep it. Running but no longer serving (stopping
# after a SIGTERM): wait for it to exit so it can be started again.
keep() {
  alive "$1" || return 1
  port_open "$2" && return 0
  local _
  for _ in $(seq 1 200); do alive "$1" || return 1; sleep 0.05; done
  return 0
}

use_coord() { [ -x "$bin/filmless-coord" ] && [ -z "${FILMLESS_NO_COORD:-}" ]; }

coord_spec() {
  if use_coord; then echo "127.0.0.1:$cport"; return; fi
  local addrs="" i
  for i in $(seq 1 "$nodes"); do addrs="$addrs${addrs:+,}127.0.0.1:$((base + i))"; done
  echo "static:$k+$m:$addrs"
}

wait_port() {
  local port=$1 t=0
  while ! port_open "$port"; do
    t=$((t + 1)); [ $t -lt 300 ] || return 1; sleep 0.1
  done
}

start() {
  [ -x "$bin/filmless-node" ] || { echo "cluster.sh: build first (scripts/build.sh)" >&2; exit 1; }
  echo "$nodes" > "$dir/nodes"
  local i coordflags=()
  if use_coord; then
    if ! keep "$dir/coord.pid" "$cport"; then
      mkdir -p "$dir/coord-data"
      "$bin/filmless-coord" serve --data "$dir/coord-data" --listen "127.0.0.1:$cport" --k "$k" \
        --m "$m" >>"$dir/coord.log" 2>&1 &
      echo $! > "$dir/coord.pid"
    fi
    wait_port "$cport" || { echo "cluster.sh: the coordinator did not start; see $dir/coord.log" >&2; exit 1; }
    coordflags=(--coord "127.0.0.1:$cport")
  fi
  local idflags
  for i in $(seq 1 "$nodes"); do
    local pid="$dir/node$i.pid" port=$((base + i))
    if keep "$pid" "$port"; then continue; fi
    mkdir -p "$dir/node$i"
    # Standalone nodes take the static map's ids; the coordinator assigns its own.
    if use_coord; then idflags=(); else idflags=(--id "$i"); fi
    "$bin/filmless-node" serve --data "$dir/node$i" --listen "127.0.0.1:$port" "${idflags[@]}" \
      --dc dc1 --rack "r$i" --reserve 256MiB "${coordflags[@]}" ${FILMLESS_NODE_FLAGS:-} \
      >>"$dir/node$i.log" 2>&1 &
    echo $! > "$pid"
  done
  for i in $(seq 1 "$nodes"); do
    wait_port $((base + i)) || { echo "cluster.sh: node $i did not start; see $dir/node$i.log" >&2; exit 1; }
  done
  if use_coord; then
    # Ready when the coordinator's map has enough nodes for the policy.
    local t=0
    until "$bin/filmless" ls --coord "127.0.0.1:$cport" 1.2.3 >/dev/null 2>&1; do
      t=$((t + 1))
      [ $t -lt 150 ] || { echo "cluster.sh: the nodes did not join the coordinator; see $dir/*.log" >&2; exit 1; }
      sleep 0.2
    done
  fi
  coord_spec > "$dir/coord"
  echo "cluster: $nodes nodes up (policy $k+$m), data and logs in $dir"
  echo "export FILMLESS_COORD=$(cat "$dir/coord")"
}

stop() {
  local p pids=""
  for p in "$dir"/node*.pid "$dir"/coord.pid; do
    [ -f "$p" ] || continue
    if alive "$p"; then
      kill -TERM "$(cat "$p")" 2>/dev/null || true
      pids="$pids $(cat "$p")"
    fi
  done
  # Nodes finish the requests in flight on SIGTERM; wait for all at once.
  local pid
  for pid in $pids; do
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$dir"/node*.pid "$dir"/coord.pid
  echo "cluster: stopped"
}

status() {
  local i up=0 cdown=0
  if use_coord; then
    if alive "$dir/coord.pid"; then
      echo "coord   127.0.0.1:$cport  up (pid $(cat "$dir/coord.pid"))"
    else
      echo "coord   127.0.0.1:$cport  down"; cdown=1
    fi
  fi
  for i in $(seq 1 "$nodes"); do
    if alive "$dir/node$i.pid"; then
      echo "node $i  127.0.0.1:$((base + i))  up (pid $(cat "$dir/node$i.pid"))"; up=$((up + 1))
    else
      echo "node $i  127.0.0.1:$((base + i))  down"
    fi
  done
  echo "$up of $nodes nodes up; FILMLESS_COORD=$(coord_spec)"
  [ "$up" -eq "$nodes" ] && [ "$cdown" = 0 ]
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export FILMLESS_COORD=$(coord_spec)" ;;
  *) echo "usage: scripts/cluster.sh start|stop|status|env [--nodes N]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A local filmless cluster on 127.0.0.1: N storage nodes (default 6, policy
# 4+2) with data, logs and pids under ./.cluster/ (FILMLESS_CLUSTER_DIR).
#   scripts/cluster.sh start [--nodes N]   idempotent: running nodes are kept
#   scripts/cluster.sh stop                idempotent: SIGTERM, then wait
#   scripts/cluster.sh status
#   scripts/cluster.sh env                 prints the FILMLESS_COORD to export
# Node i listens on port 7100+i (FILMLESS_BASE_PORT overrides 7100). Until a
# coordinator binary exists in build/bin, clients use a static map naming
# the nodes (FILMLESS_COORD=static:K+M:ADDR,...); docs/client.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${FILMLESS_CLUSTER_DIR:-$root/.cluster}
bin=${FL_BIN:-$root/build/bin}
base=${FILMLESS_BASE_PORT:-7100}
cmd=${1:-status}
shift || true
nodes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
    --nodes=*) nodes=${1#--nodes=}; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

coord_spec() {
  local addrs="" i
  for i in $(seq 1 "$nodes"); do addrs="$addrs${addrs:+,}127.0.0.1:$((base + i))"; done
  echo "static:$k+$m:$addrs"
}

wait_port() {
  local port=$1 t=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    t=$((t + 1)); [ $t -lt 300 ] || return 1; sleep 0.1
  done
}

start() {
  [ -x "$bin/filmless-node" ] || { echo "cluster.sh: build first (scripts/build.sh)" >&2; exit 1; }
  echo "$nodes" > "$dir/nodes"
  local i
  for i in $(seq 1 "$nodes"); do
    local pid="$dir/node$i.pid" port=$((base + i))
    if alive "$pid"; then continue; fi
    mkdir -p "$dir/node$i"
    "$bin/filmless-node" serve --data "$dir/node$i" --listen "127.0.0.1:$port" --id "$i" \
      --dc dc1 --rack "r$i" --reserve 256MiB >>"$dir/node$i.log" 2>&1 &
    echo $! > "$pid"
  done
  for i in $(seq 1 "$nodes"); do
    wait_port $((base + i)) || { echo "cluster.sh: node $i did not start; see $dir/node$i.log" >&2; exit 1; }
  done
  coord_spec > "$dir/coord"
  echo "cluster: $nodes nodes up (policy $k+$m), data and logs in $dir"
  echo "export FILMLESS_COORD=$(cat "$dir/coord")"
}

stop() {
  local p pids=""
  for p in "$dir"/node*.pid; do
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
  rm -f "$dir"/node*.pid
  echo "cluster: stopped"
}

status() {
  local i up=0
  for i in $(seq 1 "$nodes"); do
    if alive "$dir/node$i.pid"; then
      echo "node $i  127.0.0.1:$((base + i))  up (pid $(cat "$dir/node$i.pid"))"; up=$((up + 1))
    else
      echo "node $i  127.0.0.1:$((base + i))  down"
    fi
  done
  echo "$up of $nodes nodes up; FILMLESS_COORD=$(coord_spec)"
  [ "$up" -eq "$nodes" ]
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export FILMLESS_COORD=$(coord_spec)" ;;
  *) echo "usage: scripts/cluster.sh start|stop|status|env [--nodes N]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# RocketMQ's own Java producer bench (Bench.java, 4.9.7 client) against a real Apache RocketMQ
# 4.9.7 broker and against keelmq's name server + broker, same client, same machine, same
# workloads. Manual: needs Java 17 and a built RocketMQ ($RMQ_ROOT, see
# ../shared/rocketmq-server/README.md); never part of CI or `npm test`. See bench/README.md.
#
#   npm run build && RMQ_ROOT=/tmp/rmq-server bash bench/java-compare.sh [seconds] [repeats] [targets]
#     seconds  measured window per run (default 20; Bench adds a 3 s warm-up)
#     repeats  runs per workload (default 2)
#     targets  which of rocketmq-async rocketmq-sync keelmq-async keelmq-sync (default all four)
#
# Prints one RESULT line per run, prefixed with the target, the Java client's CPU seconds
# (user+sys, warm-up included) and the server's CPU seconds during the run (user+sys of the
# broker process, name server apart).
set -euo pipefail
ROOT=${RMQ_ROOT:-/tmp/rmq-server}
SECONDS_PER_RUN=${1:-20}
REPEATS=${2:-2}
TARGETS=${3:-rocketmq-async rocketmq-sync keelmq-async keelmq-sync}
HERE=$(cd "$(dirname "$0")/.." && pwd)
RUNSH=${RUNSH:-$HERE/../shared/rocketmq-server/run.sh}
[ -f "$RUNSH" ] || RUNSH=/work/shared/rocketmq-server/run.sh
CP=$(cat "$ROOT/bench/classpath.txt")
HZ=$(getconf CLK_TCK)
# keelmq's broker with a larger young generation, as bench/broker.ts starts it (BROKER_NODE_FLAGS there).
KEELMQ_NODE_FLAGS=${KEELMQ_NODE_FLAGS---max-semi-space-size=64}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keelmq-java-compare-XXXXXX")
KEEL_PID=

cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

stop_keelmq() {
  if [ -n "$KEEL_PID" ] && [ -d "/proc/$KEEL_PID" ]; then
    kill -TERM "$KEEL_PID"
    for _ in $(seq 1 100); do [ -d "/proc/$KEEL_PID" ] || break; sleep 0.1; done
    [ -d "/proc/$KEEL_PID" ] && kill -KILL "$KEEL_PID"
  fi
  KEEL_PID=
}
cleanup() { stop_keelmq; rm -rf "$WORK"; }
trap cleanup EXIT

bench() { # target namesrv broker-pid
  local target=$1 ns=$2 pid=$3 mode
  for mode in "sync --threads 32" "async --inflight 2000"; do
    for r in $(seq 1 "$REPEATS"); do
      local c0 c1 t0 t1 line
      c0=$(cpu "$pid"); t0=$(date +%s.%N)
      # Bench.java does not exit when its start fails (its client threads keep the JVM up): bound it.
      # The client's own CPU is printed too: on 2 cores the Java client and the broker share them.
      line=$(timeout $((SECONDS_PER_RUN + 60)) /usr/bin/time -f 'client cpu %U+%S s' java -Xmx512m -Drocketmq.client.logRoot="$WORK/client-logs" -cp "$CP" Bench "$ns" --mode $mode --seconds "$SECONDS_PER_RUN" 2>&1 | grep -E 'RESULT|Exception|client cpu' | head -3 | paste -sd' ' || true)
      c1=$(cpu "$pid"); t1=$(date +%s.%N)
      echo "$target run $r: $line | broker cpu $(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.1f s over %.1f s", (b-a)/hz, e-s}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
}

for target in $TARGETS; do
  case $target in
    rocketmq-async|rocketmq-sync)
      flush=ASYNC_FLUSH; [ "$target" = rocketmq-sync ] && flush=SYNC_FLUSH
      RMQ_ROOT=$ROOT FLUSH=$flush WIPE_STORE=1 bash "$RUNSH" start > "$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; RMQ_ROOT=$ROOT bash "$RUNSH" stop; exit 1; }
      bench "$target" 127.0.0.1:9876 "$(cat "$ROOT/run/broker.pid")" || true
      RMQ_ROOT=$ROOT bash "$RUNSH" stop > /dev/null
      ;;
    keelmq-async|keelmq-sync)
      flush=ASYNC; [ "$target" = keelmq-sync ] && flush=SYNC
      rm -rf "$WORK/store"
      # shellcheck disable=SC2086
      node $KEELMQ_NODE_FLAGS "$HERE/dist/bench/broker-server.js" --dir "$WORK/store" --flush $flush > "$WORK/addr" 2> "$WORK/keelmq.err" &
      KEEL_PID=$!
      for _ in $(seq 1 100); do [ -s "$WORK/addr" ] && break; sleep 0.1; done
      [ -s "$WORK/addr" ] || { echo "keelmq did not start:"; cat "$WORK/keelmq.err"; exit 1; }
      ns=$(sed -E 's/.*"namesrv":"([^"]+)".*/\1/' "$WORK/addr")
      bench "$target" "$ns" "$KEEL_PID" || true
      stop_keelmq
      ;;
    *) echo "unknown target $target"; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# The prefix-cache benchmark of docs/PERFORMANCE.md: the default model on local processes (scripts/cluster-local.sh),
# one cluster per configuration, the load tool's workloads inside it, each configuration twice, alternating.
#   1 replica over 2 stages, prefix cache on and off: a shared-prefix workload (4 system prompts of 192 tokens + 32 of
#     each request's own), prompts of 224 tokens of their own, and 4-turn conversations resent in full;
#   2 replicas of 1 stage, cache-aware routing on (slack 8) and off (slack 0: least loaded): 8 shared 192-token prefixes.
# Each fresh cluster gets 32 unmeasured warm-up requests first. Each concurrency level runs in its own invocation with its own seed: the load tool sends the same requests at every
# level of one invocation, which a prefix cache would serve whole from the second level on.
#   scripts/bench-prefix-cache.sh [results file]     # builds first unless SKIP_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-prefix-cache.txt}
WORK=$(mktemp -d /tmp/bench-prefix-cache.XXXXXX)
: >"$OUT"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  dotnet build Cluster.sln -c Release -v quiet -nologo >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
fi
TOOL="dotnet tests/Cluster.LoadTest/bin/Release/net10.0/cluster-loadtest.dll gateway -n 16"
LOAD="$TOOL --requests 24 --warmup 4"

start() { # name, stages, settings for the silos and the gateway
  local name=$1 stages=$2; shift 2
  SKIP_BUILD=1 STAGES=$stages SILO_ARGS="$*" GATEWAY_ARGS="$*" LOGS=$WORK/$name scripts/cluster-local.sh >"$WORK/$name.log" 2>&1 &
  CLUSTER=$!
  for _ in $(seq 1 180); do grep -q "Cluster ready" "$WORK/$name.log" && { warm_up; return 0; }; sleep 1; done
  echo "The cluster '$name' did not start:" >&2; cat "$WORK/$name.log" >&2; kill -TERM $CLUSTER; exit 1
}
# A fresh cluster's first requests run slower (JIT, first allocations): 32 unmeasured requests of prompts of their own
# (nothing the workloads share) before the first measured workload, so it is not the one that pays for them.
warm_up() { $TOOL -c 2 --requests 32 --warmup 0 --prompt-tokens 64 --seed 99 >"$WORK/warm-up.txt" 2>&1; }
stop() { kill -TERM $CLUSTER; wait $CLUSTER || true; sleep 2; }
run() { # what, load tool options
  local what=$1; shift
  echo "=== $what c=1: $*" >>"$OUT"; $LOAD -c 1 --seed 3 "$@" >>"$OUT" 2>&1
  echo "=== $what c=4: $*" >>"$OUT"; $LOAD -c 4 --seed 4 "$@" >>"$OUT" 2>&1
}

for round in 1 2; do
  for cache in true false; do
    start "r1-$cache-$round" 2 "--Gateway:Scheduler:PrefixCache=$cache"
    run "1 replica, cache=$cache, round $round, shared" --shared-prefixes 4 --shared-prefix-tokens 192 --prompt-tokens 32
    run "1 replica, cache=$cache, round $round, unique" --prompt-tokens 224
    run "1 replica, cache=$cache, round $round, conversation" --conversation-turns 4 --prompt-tokens 48
    stop
  done
done
for round in 1 2; do
  for slack in 8 0; do
    start "r2-$slack-$round" 1 "--Cluster:Models:0:Replicas=2" "--Gateway:Scheduler:PrefixAffinityMaxExtraLoad=$slack"
    run "2 replicas, routing slack=$slack, round $round, shared" --shared-prefixes 8 --shared-prefix-tokens 192 --prompt-tokens 32
    stop
  done
done
echo "Results in $OUT; cluster logs in $WORK"

#!/usr/bin/env bash
# The cluster benchmark of docs/PERFORMANCE.md: the same load at 1, 8 and 32 concurrent streams against
#   (a) the engine in one process (the baseline), with libtorch on every core and on one core,
#   (b) the cluster with one silo process (one stage, libtorch on one core: the other is the gateway's and the
#       load tool's, which on a real deployment run on other machines),
#   (c) the cluster with 2 stages on 2 silo processes over loopback (one CPU thread each: a stage per core),
# one after the other, so the ratios come from one run on one machine. Results: tables on the console and JSON
# files in OUT. CHECKPOINT is a Hugging Face checkpoint directory (the docs use a GPT-2-small-sized random one).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKPOINT=${CHECKPOINT:?set CHECKPOINT to a checkpoint directory}
OUT=${OUT:-$(mktemp -d /tmp/bench-cluster.XXXXXX)}
LOAD=(${LOAD:---concurrency 1 8 32 --requests 16 --prompt-tokens 128 --max-new-tokens 64 --warmup 2})
mkdir -p "$OUT"

dotnet build tests/Cluster.LoadTest -c Release -v quiet -nologo >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
LOADTEST=tests/Cluster.LoadTest/bin/Release/net10.0/cluster-loadtest.dll

echo "== (a) engine in one process"
dotnet "$LOADTEST" engine "$CHECKPOINT" "${LOAD[@]}" --json "$OUT/a-engine.json"
echo "== (a1) engine in one process, one thread"
dotnet "$LOADTEST" engine "$CHECKPOINT" --threads 1 "${LOAD[@]}" --json "$OUT/a1-engine-one-thread.json"

run_cluster() { # name silos stages silo-args
  local name=$1 silos=$2 stages=$3 args=$4
  echo "== ($name) cluster: $silos silo process(es), $stages stage(s)"
  MODEL="$CHECKPOINT" SILOS=$silos STAGES=$stages SILO_ARGS="$args" LOGS="$OUT/$name-logs" scripts/cluster-local.sh >"$OUT/$name-cluster.log" 2>&1 &
  local cluster=$!
  for ((t = 0; t < 300; t++)); do
    grep -q "Cluster ready" "$OUT/$name-cluster.log" 2>/dev/null && break
    kill -0 $cluster 2>/dev/null || { cat "$OUT/$name-cluster.log"; exit 1; }
    sleep 1
  done
  dotnet "$LOADTEST" gateway "${LOAD[@]}" --json "$OUT/$name.json" || true
  kill -TERM $cluster; wait $cluster || true
}
run_cluster b-one-silo 1 1 "--Cluster:Stages:CpuThreads=1"
run_cluster c-two-stages 2 2 "--Cluster:Stages:CpuThreads=1"
echo "Results in $OUT"

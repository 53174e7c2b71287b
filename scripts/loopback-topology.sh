#!/usr/bin/env bash
# The docker-compose topology as local processes on loopback, end to end: a real Redis for membership, SILOS silo
# processes and the gateway (scripts/cluster-local.sh with REDIS set), then the load tool for a bounded number of
# requests through each front door in FRONT_DOORS, in that order (default "grpc openai": gRPC Generate, then the
# OpenAI-compatible /v1/completions with the same requests). Exits 0 only if the load tool saw no error and everything stopped cleanly
# afterwards. CI runs it through
# tests/Cluster.Deployment.Tests (LoopbackTopologyTests); it needs redis-server (apt-get install redis-server).
#
#   scripts/loopback-topology.sh                    # models/default, 2 silos, 16 requests
#   REQUESTS=64 SILOS=3 scripts/loopback-topology.sh
#   LOAD_ARGS="--concurrency 1 4 16 --requests 48 --chart sweep.png" scripts/loopback-topology.sh   # a load-test report
#
# Ports default away from cluster-local.sh's, so a cluster you are running is not disturbed.
set -euo pipefail
cd "$(dirname "$0")/.."

export MODEL=${MODEL:-models/default}
export SILOS=${SILOS:-2}
export GRPC_PORT=${GRPC_PORT:-5600}
export METRICS_PORT=${METRICS_PORT:-9690}
export OPENAI_PORT=${OPENAI_PORT:-8600}
export SILO_METRICS_BASE=${SILO_METRICS_BASE:-9700}
export SILO_PORT_BASE=${SILO_PORT_BASE:-11600}
export ORLEANS_GATEWAY_PORT_BASE=${ORLEANS_GATEWAY_PORT_BASE:-30600}
export LOGS=${LOGS:-$(mktemp -d /tmp/loopback-topology.XXXXXX)}
REDIS_PORT=${REDIS_PORT:-6600}
REQUESTS=${REQUESTS:-16}
CONFIGURATION=${CONFIGURATION:-Release}
mkdir -p "$LOGS"

command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)." >&2; exit 2; }
if [[ -z "${SKIP_BUILD:-}" ]]; then
  dotnet build tests/Cluster.LoadTest -c "$CONFIGURATION" -v quiet -nologo >"$LOGS/build-loadtest.log" 2>&1 || { cat "$LOGS/build-loadtest.log"; exit 1; }
fi
LOADTEST=tests/Cluster.LoadTest/bin/$CONFIGURATION/net10.0/cluster-loadtest.dll

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$LOGS/redis.log" 2>&1 &
redis=$!
cluster=
finish() {
  local status=$?
  trap - EXIT
  if [[ -n "$cluster" ]]; then
    kill -TERM "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
  fi
  kill -TERM "$redis" 2>/dev/null || true
  wait "$redis" 2>/dev/null || true
  # Everything this run started must be gone: a process left behind is a failure, not a detail.
  local left
  left=$(pgrep -f -- "PrimarySiloPort=$SILO_PORT_BASE|GatewayPort=$ORLEANS_GATEWAY_PORT_BASE " || true)
  if [[ -n "$left" ]]; then
    echo "Processes still running after the stop: $left" >&2
    kill -KILL $left 2>/dev/null || true
    status=1
  fi
  echo "loopback topology: exit $status (logs in $LOGS)"
  exit $status
}
trap finish EXIT

REDIS=127.0.0.1:$REDIS_PORT scripts/cluster-local.sh >"$LOGS/cluster.log" 2>&1 &
cluster=$!
for ((t = 0; t < 300; t++)); do
  grep -q "Cluster ready" "$LOGS/cluster.log" 2>/dev/null && break
  kill -0 "$cluster" 2>/dev/null || { echo "The cluster did not start:" >&2; cat "$LOGS/cluster.log" >&2; exit 1; }
  sleep 1
done
grep -q "Cluster ready" "$LOGS/cluster.log" || { echo "The cluster was not ready within 300 s." >&2; exit 1; }
cat "$LOGS/cluster.log"

# The load tool exits non-zero when any request failed. LOAD_ARGS replaces the default load (e.g. a sweep with a chart).
LOAD_ARGS=${LOAD_ARGS:---concurrency 4 --requests $REQUESTS --prompt-tokens 16 --max-new-tokens 16 --warmup 1}
FRONT_DOORS=${FRONT_DOORS:-grpc openai}
for door in $FRONT_DOORS; do
  case $door in
    grpc)
      # shellcheck disable=SC2086 # LOAD_ARGS is a list of arguments
      dotnet "$LOADTEST" gateway --address "http://127.0.0.1:$GRPC_PORT" $LOAD_ARGS --json "$LOGS/load.json" ;;
    openai)
      # The same planned requests (same seed, so the same random token ids: the vocabulary size ListModels printed).
      vocabulary=$(grep -oP 'vocabulary \K[0-9]+' "$LOGS/cluster.log" | head -n1)
      # shellcheck disable=SC2086 # LOAD_ARGS is a list of arguments
      dotnet "$LOADTEST" openai --address "http://127.0.0.1:$OPENAI_PORT/v1" --vocabulary-size "$vocabulary" $LOAD_ARGS --json "$LOGS/load-openai.json" ;;
    *)
      echo "FRONT_DOORS: unknown front door '$door' (grpc, openai)" >&2
      exit 2 ;;
  esac
done

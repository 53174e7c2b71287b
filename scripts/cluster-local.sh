#!/usr/bin/env bash
# Starts a working cluster on this machine as separate processes on loopback: SILOS silo processes (localhost
# clustering, the first is the primary) that split MODEL into STAGES pipeline stages, and the gRPC gateway on
# GRPC_PORT. Waits until the gateway serves, prints how to call it, and on Ctrl+C or SIGTERM stops everything it
# started and exits 0 (1 when a process exits on its own). Installs the build's g++ and patchelf where needed (below).
#
#   scripts/cluster-local.sh                       # models/default, 2 silos, 2 stages, gateway on :5000
#   MODEL=/models/SmolLM2-135M SILOS=3 scripts/cluster-local.sh
#
# The OpenAI-compatible HTTP API on OPENAI_PORT (8000).
# Metrics (Prometheus /metrics, /healthz, /ready over HTTP/1.1): the gateway on METRICS_PORT (9090), silo i on
# SILO_METRICS_BASE+i (9100+i). Traces go to OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set in the environment.
#
# Set REDIS=host:port to use Redis membership instead (what separate machines use). SILO_ARGS and GATEWAY_ARGS
# add settings, e.g. SILO_ARGS="--Cluster:Stages:CpuThreads=1"; with API keys in GATEWAY_ARGS
# (--Gateway:Auth:Keys:0:Name=me --Gateway:Auth:Keys:0:Key=...), set CLUSTER_API_KEY to one so the client calls work.
# Silo i's process id is in $LOGS/silo-i.pid;
# SURVIVE_SILO_EXIT=1 keeps the cluster up when a silo exits (fault tests kill one), else any exit stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MODEL:-models/default}
MODEL_NAME=${MODEL_NAME:-default}
SILOS=${SILOS:-2}
STAGES=${STAGES:-$SILOS}
GRPC_PORT=${GRPC_PORT:-5000}
METRICS_PORT=${METRICS_PORT:-9090}
OPENAI_PORT=${OPENAI_PORT:-8000}
SILO_METRICS_BASE=${SILO_METRICS_BASE:-9100}
# Orleans ports: silo i listens on SILO_PORT_BASE+i (silo to silo) and ORLEANS_GATEWAY_PORT_BASE+i (clients); change
# both to run a second cluster on the same machine.
SILO_PORT_BASE=${SILO_PORT_BASE:-11111}
ORLEANS_GATEWAY_PORT_BASE=${ORLEANS_GATEWAY_PORT_BASE:-30000}
REDIS=${REDIS:-}
LOGS=${LOGS:-$(mktemp -d /tmp/cluster-local.XXXXXX)}
mkdir -p "$LOGS"
CONFIGURATION=${CONFIGURATION:-Release}

if [[ ! -f "$MODEL/config.json" ]]; then
  echo "No checkpoint at '$MODEL' (config.json missing). Set MODEL to a Hugging Face checkpoint directory." >&2
  exit 2
fi
MODEL=$(cd "$MODEL" && pwd)

# On a system whose libstdc++ lacks GLIBCXX_3.4.32 (Debian 12), the build patches TorchSharp's native library with
# g++ and patchelf (build/TorchSharpGlibcxxFix.targets). A fresh machine with only the .NET SDK lacks both: install
# them with apt-get, as .ci/run does, saying so first. Newer systems need neither and are left alone.
install_build_tools() {
  local libstdcxx need=() path
  for path in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
    [[ -f "$path" ]] && { libstdcxx=$path; break; }
  done
  if [[ -z "${libstdcxx:-}" ]] || grep -qF GLIBCXX_3.4.32 "$libstdcxx"; then
    return 0
  fi
  command -v g++ >/dev/null || need+=(g++)
  command -v patchelf >/dev/null || need+=(patchelf)
  ((${#need[@]})) || return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "The build needs ${need[*]} here ($libstdcxx lacks GLIBCXX_3.4.32, see build/TorchSharpGlibcxxFix.targets). Install them as root: apt-get install -y ${need[*]}" >&2; exit 2; }
    sudo=(sudo)
  fi
  echo "Installing ${need[*]} with apt-get: the build patches TorchSharp's native library for this system's older libstdc++ ($libstdcxx lacks GLIBCXX_3.4.32; see build/TorchSharpGlibcxxFix.targets)."
  { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } \
    || { echo "Could not install ${need[*]} with apt-get; install them yourself (apt-get install -y ${need[*]}) and run this again." >&2; exit 2; }
}

# SKIP_BUILD=1: use the binaries already built (tests run it right after building the solution).
if [[ -z "${SKIP_BUILD:-}" ]]; then
  install_build_tools
  for project in silo/Cluster.Silo gateway/Cluster.Gateway gateway/Cluster.Client; do
    dotnet build "$project" -c "$CONFIGURATION" -v quiet -nologo >"$LOGS/build.log" 2>&1 || { cat "$LOGS/build.log"; exit 1; }
  done
fi

SILO_DLL=silo/Cluster.Silo/bin/$CONFIGURATION/net10.0/Cluster.Silo.dll
GATEWAY_DLL=gateway/Cluster.Gateway/bin/$CONFIGURATION/net10.0/cluster-gateway.dll
CLIENT_DLL=gateway/Cluster.Client/bin/$CONFIGURATION/net10.0/cluster-client.dll

shared=(--Cluster:Redis="$REDIS" --Cluster:Models:0:Name="$MODEL_NAME" --Cluster:Models:0:Path="$MODEL" --Cluster:Models:0:Stages="$STAGES")
pids=()
# Stops every process this script started (SIGTERM: each drains and exits) and waits for them. On SIGTERM or Ctrl+C
# that is the asked-for outcome, so the script exits 0; on an error exit it keeps the error's status.
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    echo "Stopping ${#pids[@]} processes..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop; echo "Stopped."; exit 0' INT TERM
trap stop EXIT

for ((i = 0; i < SILOS; i++)); do
  dotnet "$SILO_DLL" "${shared[@]}" --Cluster:SiloPort=$((SILO_PORT_BASE + i)) --Cluster:GatewayPort=$((ORLEANS_GATEWAY_PORT_BASE + i)) \
    --Cluster:PrimarySiloPort=$SILO_PORT_BASE --Cluster:AdvertisedIP=127.0.0.1 --Telemetry:MetricsUrl="http://127.0.0.1:$((SILO_METRICS_BASE + i))" ${SILO_ARGS:-} >"$LOGS/silo-$i.log" 2>&1 &
  pids+=($!)
  echo $! >"$LOGS/silo-$i.pid" # so a fault test can kill one silo
done
# Every silo must have joined before the gateway activates the stages: placement spreads a replica's stages over
# the silos present at activation. A silo's /ready (HTTP/1.1 on its metrics port) answers 200 once it has started;
# the gateway's once every model's stages have loaded. Neither needs an API key.
http_ready() { # port
  local status
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  read -r _ status _ <&3 || true
  exec 3<&- 3>&-
  [[ "$status" == 200 ]]
}
for ((i = 0; i < SILOS; i++)); do
  for ((t = 0; t < 180; t++)); do
    http_ready $((SILO_METRICS_BASE + i)) && break
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "Silo $i exited during start-up; logs in $LOGS:" >&2; tail -n 20 "$LOGS/silo-$i.log" >&2; exit 1; }
    sleep 1
  done
done

dotnet "$GATEWAY_DLL" "${shared[@]}" --Cluster:GatewayPort=$ORLEANS_GATEWAY_PORT_BASE \
  --Kestrel:Endpoints:Grpc:Url="http://127.0.0.1:$GRPC_PORT" --Kestrel:Endpoints:Metrics:Url="http://127.0.0.1:$METRICS_PORT" \
  --Kestrel:Endpoints:OpenAi:Url="http://127.0.0.1:$OPENAI_PORT" ${GATEWAY_ARGS:-} >"$LOGS/gateway.log" 2>&1 &
pids+=($!)

# Ready when the gateway's /ready answers 200 (every stage has loaded its layers on its silo): a probe that needs no
# API key, so it works whether or not Gateway:Auth:Keys are configured. The layout is then listed with ListModels,
# which does need a key when keys are configured: the client reads it from CLUSTER_API_KEY.
for ((t = 0; t < 180; t++)); do
  if http_ready "$METRICS_PORT"; then
    dotnet "$CLIENT_DLL" models --address "http://127.0.0.1:$GRPC_PORT" >"$LOGS/models.txt" 2>&1 \
      || echo "(ListModels failed, see below; with Gateway:Auth:Keys configured, set CLUSTER_API_KEY to one of the keys)" >>"$LOGS/models.txt"
    cat "$LOGS/models.txt"
    echo
    echo "Cluster ready: gateway http://127.0.0.1:$GRPC_PORT (gRPC), http://127.0.0.1:$OPENAI_PORT/v1 (OpenAI API), $SILOS silos, logs in $LOGS"
    echo "Metrics: http://127.0.0.1:$METRICS_PORT/metrics (gateway), http://127.0.0.1:$SILO_METRICS_BASE/metrics (silo 0) .. +$((SILOS - 1))"
    echo "Try:  dotnet run --project gateway/Cluster.Client -c $CONFIGURATION -- \"And God said unto Moses\" -t 0.7"
    echo "Ctrl+C stops the cluster."
    if [[ -n "${SURVIVE_SILO_EXIT:-}" ]]; then
      wait "${pids[-1]}" || true # a fault test kills silos on purpose: only the gateway's exit ends the cluster
    else
      wait -n "${pids[@]}" || true
    fi
    echo "A process exited; see $LOGS." >&2
    exit 1
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "A process exited during start-up; logs in $LOGS:" >&2; tail -n 20 "$LOGS"/*.log >&2; exit 1; }
  done
  sleep 1
done
echo "The cluster did not become ready within 180 s; logs in $LOGS." >&2
tail -n 20 "$LOGS"/*.log >&2
exit 1

#!/usr/bin/env bash
# Runs `vsnative serve` and schemathesis against its OpenAPI document inside a fresh network namespace
# with only loopback: cameras that the fuzzer invents (random RTSP URLs) can reach nothing real.
# Usage (as root): schemathesis_run.sh PYTHON SETTINGS_DIR RECORDINGS_DIR TOKEN LOG
set -euo pipefail
python=$1 settings=$2 recordings=$3 token=$4 log=$5
ip link set lo up
VSN_API_TOKEN=$token "$python" -m vsnative serve --settings-dir "$settings" --recordings-dir "$recordings" \
  --port 18765 --reconcile-seconds 1 --monitor-seconds 1 >"$log" 2>&1 &
serve=$!
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/18765) 2>/dev/null && break
  sleep 0.1
done
PYTHONPATH="$(cd "$(dirname "$0")/../.." && pwd)" SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks \
  "$(dirname "$python")/schemathesis" run http://127.0.0.1:18765/api/openapi.json \
  -H "Authorization: Bearer $token" --checks all \
  --exclude-checks positive_data_acceptance,use_after_free \
  -n 25 --seed 20261128 --request-timeout 20 --no-color

#!/usr/bin/env bash
# Smoke test of a running report service: alive, ready, and one demo job (HWC from the bundled demo
# mirror) to success. Usage: SMOKE_TOKEN=<author token> deploy/smoke.sh https://api.example.org
# Exit status 0 only when the job succeeded and its PDF is served; the job's status is printed.
set -euo pipefail
base=${1:?usage: deploy/smoke.sh BASE_URL}
base=${base%/}
: "${SMOKE_TOKEN:?set SMOKE_TOKEN to a bearer token with the author role (cer token --role author)}"
wait_seconds=${SMOKE_WAIT_SECONDS:-900}
auth=(-H "Authorization: Bearer ${SMOKE_TOKEN}")

field() { python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1]) or "")' "$1"; }

curl -fsS "$base/healthz" >/dev/null && echo "healthz: ok"
curl -fsS "$base/readyz" >/dev/null && echo "readyz: ok"
job=$(curl -fsS "${auth[@]}" -H 'content-type: application/json' -d '{"code":"HWC","from":"mirror"}' \
      "$base/v1/reports" | field job_id)
echo "job: $job"
deadline=$(( $(date +%s) + wait_seconds ))
while :; do
  status_json=$(curl -fsS "${auth[@]}" "$base/v1/jobs/$job")
  status=$(field status <<<"$status_json")
  case "$status" in
    succeeded) echo "job $job succeeded: $status_json"; break ;;
    failed) echo "job $job failed: $status_json" >&2; exit 1 ;;
  esac
  if (( $(date +%s) > deadline )); then
    echo "job $job not finished after ${wait_seconds} s: $status_json" >&2; exit 1
  fi
  sleep 5
done
curl -fsS "${auth[@]}" -o /dev/null "$base/v1/codes/HWC/runs/latest/files/cer.pdf" && echo "cer.pdf: served"

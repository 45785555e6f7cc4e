#!/usr/bin/env bash
# `make run`: start Vigil on http://127.0.0.1:8000 with a demo model trained on
# simulated application logs, and print the admin key.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL=".venv/bin/vigil"
HOME_DIR="${VIGIL_HOME:-./.vigil}"
mkdir -p "$HOME_DIR"

if ! "$VIGIL" models show demo-logs >/dev/null 2>&1; then
  echo "Training the demo model 'demo-logs' on 20,000 simulated log events..."
  "$VIGIL" simulate logs --rows 20000 --anomaly-rate 0.03 --seed 7 --out "$HOME_DIR/demo-logs.jsonl"
  "$VIGIL" train "$HOME_DIR/demo-logs.jsonl" --name demo-logs --task anomaly \
    --features logs --target is_anomaly
fi
if [ -f "$HOME_DIR/admin.key" ] && [ -z "${VIGIL_ADMIN_KEY:-}" ]; then
  echo "Admin key (from $HOME_DIR/admin.key): $(cat "$HOME_DIR/admin.key")"
fi
echo "Try:  curl -s -H \"Authorization: Bearer <admin key>\" http://127.0.0.1:8000/v1/models"
echo "Push events as they happen (each judged with its stream's history):"
echo "      tail -n 100 $HOME_DIR/demo-logs.jsonl | curl -s -H \"Authorization: Bearer <admin key>\" \\"
echo "        -H 'Content-Type: application/x-ndjson' --data-binary @- http://127.0.0.1:8000/v1/models/demo-logs/events"
exec "$VIGIL" serve --host 127.0.0.1 --port 8000

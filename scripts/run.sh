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
  # The demo stream starts with the 500 events before the newest one as its history
  # (pushed in process, into the state store the server reads), so the newest event,
  # sent alone, is judged with its past as it would be inside the whole log.
  echo "Pushing 500 events into the demo stream as its history..."
  # sed, not tail | head: under pipefail, tail's SIGPIPE when head stops early would fail make run.
  lines=$(wc -l <"$HOME_DIR/demo-logs.jsonl")
  sed -n "$((lines - 500)),$((lines - 1))p" "$HOME_DIR/demo-logs.jsonl" |
    "$VIGIL" watch demo-logs - --json >/dev/null
  tail -n 1 "$HOME_DIR/demo-logs.jsonl" > "$HOME_DIR/demo-next-event.jsonl"
fi
if [ -f "$HOME_DIR/admin.key" ] && [ -z "${VIGIL_ADMIN_KEY:-}" ]; then
  echo "Admin key (from $HOME_DIR/admin.key): $(cat "$HOME_DIR/admin.key")"
fi
echo "Try:  curl -s -H \"Authorization: Bearer <admin key>\" http://127.0.0.1:8000/v1/models"
echo "Push events as they happen; each is judged with its stream's history. One event:"
echo "      curl -s -H \"Authorization: Bearer <admin key>\" -H 'Content-Type: application/x-ndjson' \\"
echo "        --data-binary @$HOME_DIR/demo-next-event.jsonl http://127.0.0.1:8000/v1/models/demo-logs/events"
exec "$VIGIL" serve --host 127.0.0.1 --port 8000

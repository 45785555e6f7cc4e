#!/usr/bin/env bash
# The README's five-minute tour, run by `make run` until the REST service lands.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL=".venv/bin/vigil"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

"$VIGIL" models delete churn >/dev/null 2>&1 || true
step "$VIGIL" algorithms
step "$VIGIL" train examples/churn.csv --name churn --target churned
step "$VIGIL" predict churn examples/churn_new.csv
step "$VIGIL" train examples/churn.csv --name churn --target churned --algorithm logistic_regression
step "$VIGIL" models versions churn
step "$VIGIL" models deploy churn 2 --reason "better f1 on the test split"
step "$VIGIL" evaluate churn examples/churn.csv --target churned
step "$VIGIL" models rollback churn --reason "tour: going back"
step "$VIGIL" models show churn
step "$VIGIL" compare examples/churn.csv --target churned --algorithms random_forest,logistic_regression,scratch_logistic,scratch_tree
printf '\nState lives in %s (SQLite database and artifacts).\n' "${VIGIL_HOME:-./.vigil}"

#!/usr/bin/env bash
# The gateway benchmark for 1 and 2 worker processes (what `make bench` runs).
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres), Redis on 127.0.0.1:6379 (DB 14 is
# flushed) and wrk. Extra arguments go to bench/gateway_bench.py, e.g. --duration 5,
# --profile (adds a py-spy run per worker count) or --keep-db.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
exec "$PY" bench/gateway_bench.py --workers 1 2 "$@"

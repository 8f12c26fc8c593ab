#!/usr/bin/env bash
# The README's test command runs this. It says which backends the run uses, and treats
# pytest's exit code 5 ("no tests collected") as a failure of the setup, not a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=config.settings.test
echo "database: ${DATABASE_URL:-SQLite (set DATABASE_URL for PostgreSQL)}"
echo "counters: ${REDIS_URL:-embedded store (set REDIS_URL for Redis; Redis-only tests skip)}"
.venv/bin/pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: the suite is missing" >&2
fi
exit "$status"

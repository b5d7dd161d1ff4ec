#!/usr/bin/env bash
# Until the first release the schema lives in one migration, regenerated from app/models.py.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rm -f migrations/versions/0001_initial_schema.py
SCALE_VAR_DIR="$tmp" DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic -c alembic.ini revision --autogenerate -m "initial schema" --rev-id 0001 >/dev/null
echo "regenerated migrations/versions/0001_initial_schema.py"

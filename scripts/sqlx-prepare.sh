#!/usr/bin/env bash
# Regenerates .sqlx/, the offline data of sqlx's query! macros: what each checked statement
# takes and returns, read from a scratch database migrated from migrations/. Builds read it
# (SQLX_OFFLINE=true in .cargo/config.toml), never a live database. Run it after changing a
# checked statement or the schema (`./dev sqlx-prepare`); the test `sqlx_offline_data` in
# services/core fails while .sqlx/ is stale.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
eval "$(./dev env 2>/dev/null)"
server=${DATABASE_URL%/*}
# SQLX_PREPARE_DB lets work trees that share one server prepare at the same time.
scratch=${SQLX_PREPARE_DB:-vodnest_sqlx_prepare}

psql "$server/postgres" -qc "drop database if exists $scratch with (force)" >/dev/null
psql "$server/postgres" -qc "create database $scratch" >/dev/null
trap 'psql "$server/postgres" -qc "drop database if exists $scratch with (force)" >/dev/null' EXIT
for migration in migrations/*.sql; do
    psql -v ON_ERROR_STOP=1 -q "$server/$scratch" -f "$migration" >/dev/null
done

out=$(mktemp -d)
# The macros run again only in crates whose sources changed.
grep -rl --include='*.rs' -E 'sqlx::query(_as|_scalar)?!' services tests | xargs touch
SQLX_OFFLINE=false DATABASE_URL="$server/$scratch" SQLX_OFFLINE_DIR="$out" \
    cargo check --workspace --all-targets --quiet
rm -rf .sqlx
mv "$out" .sqlx
chmod 755 .sqlx
echo ".sqlx: $(ls .sqlx | wc -l) statements"

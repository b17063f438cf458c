#!/usr/bin/env bash
# The machine's ceiling for the queue bench (services/processor/benches/queue.rs): how many
# durable commits per second this Postgres takes for the simplest write a job's success makes,
# a one-row UPDATE of `videos` (its updated_at and NOTIFY triggers fire), with 1, 4 and 16
# clients; the same without the NOTIFY trigger and with asynchronous commit, as ratios to it.
# A queue that commits once per job cannot complete more jobs per second than this.
#
#   bash benches/commit_ceiling.sh [SECONDS]
#
# Uses pgbench (it comes with Postgres) against a scratch database built from migrations/,
# dropped at the end.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_RUN=${1:-8}
WORK=$(mktemp -d /tmp/vodnest-commit-ceiling.XXXXXX)
eval "$("$REPO/dev" env)"
ADMIN_URL=$DATABASE_URL
DB=vodnest_commit_ceiling_$$
DB_URL="${ADMIN_URL%/*}/$DB"
cleanup() {
    psql -q "$ADMIN_URL" -c "drop database if exists $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

psql -q "$ADMIN_URL" -c "create database $DB" >/dev/null
for migration in "$REPO"/migrations/*.sql; do
    psql -q -v ON_ERROR_STOP=1 "$DB_URL" -f "$migration" >/dev/null
done
psql -q -v ON_ERROR_STOP=1 "$DB_URL" >/dev/null <<'SQL'
create table bench_ids (n int primary key, id uuid not null);
insert into videos (id, title, filename, content_type, size_bytes, part_size, part_count,
                    upload_expires_at, status)
    select gen_random_uuid(), 'b', 'b.mp4', 'video/mp4', 1, 8388608, 1, now(), 'processing'
    from generate_series(1, 100000);
insert into bench_ids select row_number() over (), id from videos;
SQL
cat >"$WORK/update.sql" <<'SQL'
\set n random(1, 100000)
update videos set progress = random() where id = (select id from bench_ids where n = :n);
SQL

tps() {
    pgbench -n -c "$1" -j 2 -T "$SECONDS_PER_RUN" -f "$WORK/update.sql" "$DB_URL" 2>/dev/null |
        awk '/^tps/ { print int($3); exit }'
}

echo "one-row UPDATE of videos, durable commits per second (${SECONDS_PER_RUN} s per figure)"
for clients in 1 4 16; do
    durable=$(tps "$clients")
    relaxed=$(PGOPTIONS='-c synchronous_commit=off' tps "$clients")
    psql -q "$DB_URL" -c "alter table videos disable trigger videos_notify"
    quiet=$(tps "$clients")
    psql -q "$DB_URL" -c "alter table videos enable trigger videos_notify"
    awk -v c="$clients" -v d="$durable" -v q="$quiet" -v r="$relaxed" 'BEGIN {
        printf "  %2d clients: %6d commits/s; without NOTIFY %6d (%.2fx); asynchronous commit %6d (%.2fx)\n",
            c, d, q, q / d, r, r / d }'
done

#!/usr/bin/env bash
# Live-load benchmark: each migration scenario applied naively (plain psql)
# and with `migrate apply`, under steady pgbench traffic, on a throwaway cluster.
#
#   bench/live.sh [--rows N | --quick] [--rate TPS] [--only NAME[,NAME]] [--no-build] [--out FILE]
#
#   --rows N     rows in the migrated table (default 2,000,000)
#   --quick      200,000 rows
#   --rate TPS   pgbench's fixed (open-loop) rate, default 500
#   --only       scenarios to run: set-not-null, create-index, add-fk, int-to-bigint,
#                update, volatile-default, lock-queue, lock-queue-cancel (default: all)
#   --out FILE   also write the results table there (markdown)
#   MIGRATE=path benches another build of migrate.
#
# The cluster: initdb in a temp dir (as the `postgres` user when run as root),
# listening only on a unix socket there; fsync and synchronous_commit off
# (disk noise out of the figures); autovacuum on. Removed on exit.
#
# Per scenario and method: load the tables (V1 of the scenario's migration
# directory, then N rows), start `pgbench -n -M simple -R RATE -c 8 -j 2 --log`
# running bench/live/traffic.sql (60% reads by key, 30% updates by key, 10%
# inserts), wait 3 s, run the migration (psql -f V2, or migrate apply), wait
# 3 s, stop pgbench, check the end state, and compute from the per-transaction
# logs (bench/live/stats.py): wall time, p50/p99/max latency of transactions
# in flight during the migration (latency counts from the scheduled start, so
# queueing shows), transactions over 100 ms and 1 s, failed transactions
# (aborted clients), the longest gap with no transaction completed, and
# throughput against a 15 s run without a migration.
set -euo pipefail

rows=2000000
rate=500
only=""
build=1
out_file=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows="$2"; shift 2 ;;
        --quick) rows=200000; shift ;;
        --rate) rate="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --out) out_file="$2"; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
repo="$PWD"
here="$repo/bench/live"
if [ "$build" = 1 ]; then
    cargo build --release --quiet --bin migrate
fi
migrate="${MIGRATE:-$repo/target/release/migrate}"
bindir="$(pg_config --bindir)"
for tool in initdb pg_ctl postgres; do
    [ -x "$bindir/$tool" ] || { echo "error: $bindir/$tool missing" >&2; exit 2; }
done
command -v pgbench >/dev/null || { echo "error: pgbench missing" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 missing" >&2; exit 2; }

work="$(mktemp -d /tmp/safe-migrate-live.XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$work"
    as_pg=(runuser -u postgres --)
fi
chmod 700 "$work"
port=$((20000 + RANDOM % 20000))
cleanup() {
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$work/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -o \
    "-c listen_addresses= -c port=$port -c unix_socket_directories=$work -c fsync=off \
     -c synchronous_commit=off -c shared_buffers=256MB -c max_wal_size=4GB -c max_connections=50 \
     -c autovacuum=on" start >/dev/null
psql_base=(psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres)
"${psql_base[@]}" -d postgres -c "CREATE DATABASE bench" >/dev/null
psql=("${psql_base[@]}" -d bench)
url="postgres://postgres@/bench?host=$work&port=$port"
logs="$work/logs"
mkdir -p "$logs"

scenarios=(set-not-null create-index add-fk int-to-bigint update volatile-default lock-queue lock-queue-cancel)
if [ -n "$only" ]; then IFS=, read -r -a scenarios <<< "$only"; fi

# V2 of each scenario: the naive statement.
v2() {
    case "$1" in
        set-not-null|lock-queue|lock-queue-cancel) echo "ALTER TABLE items ALTER COLUMN email SET NOT NULL;" ;;
        create-index) echo "CREATE INDEX items_account_id_idx ON items (account_id);" ;;
        add-fk) echo "ALTER TABLE items ADD CONSTRAINT items_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);" ;;
        int-to-bigint) echo "ALTER TABLE items ALTER COLUMN qty TYPE bigint;" ;;
        update) echo "UPDATE items SET note = 'migrated';" ;;
        volatile-default) echo "ALTER TABLE items ADD COLUMN token uuid DEFAULT gen_random_uuid();" ;;
        *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

# The end state the migration asked for: prints "ok" or what is wrong.
verify() {
    local sql
    case "$1" in
        set-not-null|lock-queue|lock-queue-cancel) sql="SELECT CASE WHEN attnotnull THEN 'ok' ELSE 'email is nullable' END FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'email'" ;;
        create-index) sql="SELECT CASE WHEN (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('items_account_id_idx')) THEN 'ok' ELSE 'no valid index' END" ;;
        add-fk) sql="SELECT CASE WHEN (SELECT convalidated FROM pg_constraint WHERE conname = 'items_account_id_fkey') THEN 'ok' ELSE 'no validated foreign key' END" ;;
        int-to-bigint) sql="SELECT CASE WHEN format_type(atttypid, atttypmod) = 'bigint' AND (SELECT count(*) FROM items WHERE qty IS NULL) = 0 AND (SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname LIKE 'qty\\_%' AND NOT attisdropped) = 0 THEN 'ok' ELSE 'qty is ' || format_type(atttypid, atttypmod) END FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'qty'" ;;
        update) sql="SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE count(*) || ' rows not updated' END FROM items WHERE id <= $rows AND note IS DISTINCT FROM 'migrated'" ;;
        volatile-default) sql="SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE count(*) || ' rows without a token' END FROM items WHERE token IS NULL" ;;
    esac
    "${psql[@]}" -tA -c "$sql"
}

# Fresh tables: the scenario's V1 (through migrate for `migrate`, so its
# history knows them), then the rows.
load() {
    local method="$1" dir="$2"
    "${psql[@]}" -c "DROP TABLE IF EXISTS items, accounts CASCADE; DROP SCHEMA IF EXISTS safe_migrate CASCADE" >/dev/null 2>&1
    if [ "$method" = migrate ]; then
        "$migrate" apply "$dir" --database-url "$url" --target 1 >/dev/null
    else
        "${psql[@]}" -f "$dir/V1__schema.sql" >/dev/null
    fi
    "${psql[@]}" >/dev/null <<SQL
INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 1000) g;
INSERT INTO items (account_id, qty, note, email)
    SELECT 1 + g % 1000, g % 100, 'note ' || g, 'u' || g || '@example.com' FROM generate_series(1, $rows) g;
SELECT setval(pg_get_serial_sequence('items', 'id'), $rows);
VACUUM ANALYZE items;
CHECKPOINT;
SQL
}

# Runs `$@` under traffic; sets t0/t1 (epoch seconds) and the log prefix.
under_traffic() {
    local prefix="$1"; shift
    rm -f "$logs/$prefix".*
    (cd "$logs" && exec pgbench -n -M simple -h "$work" -p "$port" -U postgres -f "$here/traffic.sql" \
        -D maxid="$rows" -R "$rate" -c 8 -j 2 -T 3600 --log --log-prefix="$prefix" bench \
        >"$logs/$prefix.out" 2>"$logs/$prefix.err") &
    local bench_pid=$!
    sleep 3
    t0=$(date +%s.%N)
    local status=0
    "$@" >"$logs/$prefix.migration.log" 2>&1 || status=$?
    t1=$(date +%s.%N)
    sleep 3
    # pgbench has no graceful stop; its log buffer (the last ~0.5 s) is lost, outside the window.
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
    if [ "$status" != 0 ]; then
        echo "migration failed ($status): $(tail -3 "$logs/$prefix.migration.log")" >&2
    fi
    return 0
}

blocker_pid=""
start_blocker() {
    # A transaction that reads the table and stays open for 20 s.
    "${psql[@]}" -c "BEGIN; SELECT count(*) FROM items WHERE id = 1; SELECT pg_sleep(20); COMMIT;" >/dev/null 2>&1 &
    blocker_pid=$!
    sleep 1
}

naive() { "${psql[@]}" -f "$1/V2__migrate.sql"; }
with_migrate() { "$migrate" apply "$1" --database-url "$url" "${migrate_args[@]}"; }

# Per scenario: the methods run, and what `migrate apply` gets besides its defaults.
# lock-queue-cancel is lock-queue with --cancel-blockers-after 5s (psql has no such thing).
methods_of() {
    case "$1" in
        lock-queue-cancel) echo migrate ;;
        *) echo psql migrate ;;
    esac
}
migrate_args_of() {
    case "$1" in
        lock-queue-cancel) echo --cancel-blockers-after 5s ;;
    esac
}

results="$work/results.md"
{
    echo "| scenario | method | wall s | p50 ms | p99 ms | max ms | >100ms | >1s | failed | longest stall s | throughput vs baseline | end state |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$results"

# Baseline: the traffic alone for 15 s on a freshly loaded table.
base_dir="$work/scenario-baseline"
mkdir -p "$base_dir"
cp "$here/V1__schema.sql" "$base_dir/"
load psql "$base_dir"
under_traffic baseline sleep 15
baseline_tps=$(python3 "$here/stats.py" --baseline "$logs"/baseline.*[0-9] --t0 "$t0" --t1 "$t1")
echo "baseline: $baseline_tps transactions/s at -R $rate" >&2

for scenario in "${scenarios[@]}"; do
    dir="$work/scenario-$scenario"
    mkdir -p "$dir"
    cp "$here/V1__schema.sql" "$dir/"
    v2 "$scenario" >"$dir/V2__migrate.sql"
    read -r -a migrate_args <<< "$(migrate_args_of "$scenario")"
    for method in $(methods_of "$scenario"); do
        load "$method" "$dir"
        prefix="$scenario-$method"
        case "$scenario" in lock-queue*) start_blocker ;; esac
        if [ "$method" = psql ]; then
            under_traffic "$prefix" naive "$dir"
        else
            under_traffic "$prefix" with_migrate "$dir"
        fi
        if [ -n "$blocker_pid" ]; then wait "$blocker_pid" || true; blocker_pid=""; fi
        state=$(verify "$scenario")
        failed=$(grep -c "aborted\|ERROR" "$logs/$prefix.err" || true)
        row=$(python3 "$here/stats.py" "$logs/$prefix".*[0-9] --t0 "$t0" --t1 "$t1" \
            --baseline-tps "$baseline_tps" --failed "$failed")
        # What migrate did while blocked: its wait reports, failed tries and cancellations.
        if [ "$method" = migrate ]; then
            waits=$(grep -c "not queueing" "$logs/$prefix.migration.log" || true)
            retries=$(grep -c "try .* failed" "$logs/$prefix.migration.log" || true)
            cancels=$(grep -c "cancelled the query" "$logs/$prefix.migration.log" || true)
            echo "$prefix: $waits wait report(s), $retries failed tr(ies), $cancels cancellation(s)" >&2
        fi
        line="| $scenario | $method | $row | $state |"
        echo "$line" >&2
        echo "$line" >>"$results"
    done
done

echo
echo "rows: $rows, pgbench -R $rate -c 8 -j 2, baseline $baseline_tps tps, PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'), $(nproc) cores"
cat "$results"
if [ -n "$out_file" ]; then cp "$results" "$out_file"; fi

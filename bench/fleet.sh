#!/usr/bin/env bash
# Fleet benchmark: `migrate apply --targets` over many tenant schemas of one
# database and many databases, each receiving a 3-migration history, on a
# throwaway cluster.
#
#   bench/fleet.sh [--tenants N] [--databases M] [--jobs "1 4 8"] [--no-build]
#
#   --tenants N    tenant schemas in one database (default 500)
#   --databases M  databases, one target each (default 50)
#   --jobs LIST    the --jobs values to time (default "1 4 8")
#   MIGRATE=path benches another build of migrate.
#
# Per --jobs value: fresh targets (the tenants' database re-created with N
# empty schemas, M empty databases), then `migrate apply DIR --targets FILE
# --jobs J` under /usr/bin/time -v (wall time, max RSS), while a sampler
# counts the server's `safe-migrate%` sessions every 20 ms (peak
# connections); then the same command again (everything up to date).
# The history: V1 creates a table with a primary key, V2 adds a column,
# V3 creates an index.
set -euo pipefail

tenants=500
databases=50
jobs_list="1 4 8"
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --tenants) tenants="$2"; shift 2 ;;
        --databases) databases="$2"; shift 2 ;;
        --jobs) jobs_list="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
repo="$PWD"
if [ "$build" = 1 ]; then
    cargo build --release --quiet --bin migrate
fi
migrate="${MIGRATE:-$repo/target/release/migrate}"
bindir="$(pg_config --bindir)"
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time missing (apt-get install -y time)" >&2; exit 2; }

work="$(mktemp -d /tmp/safe-migrate-fleet.XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$work"
    as_pg=(runuser -u postgres --)
fi
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
sampler=""
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$work/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -o \
    "-c listen_addresses= -c port=$port -c unix_socket_directories=$work -c fsync=off \
     -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c autovacuum=off" start >/dev/null
export PGOPTIONS="-c client_min_messages=warning"
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres)
url() { echo "postgres://postgres@/$1?host=$work&port=$port"; }

dir="$work/migrations"
mkdir -p "$dir"
echo "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());" > "$dir/V1__items.sql"
echo "ALTER TABLE items ADD COLUMN note text;" > "$dir/V2__note.sql"
echo "CREATE INDEX items_name_idx ON items (name);" > "$dir/V3__name_idx.sql"

targets="$work/targets.yaml"
{
    echo "targets:"
    for i in $(seq 1 "$tenants"); do
        echo "  - {name: t$i, url: '$(url tenants)', schema: tenant_$i}"
    done
    for i in $(seq 1 "$databases"); do
        echo "  - {name: d$i, url: '$(url db_$i)'}"
    done
} > "$targets"

fresh_targets() {
    "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS tenants" -c "CREATE DATABASE tenants" >/dev/null
    seq 1 "$tenants" | sed 's/.*/CREATE SCHEMA tenant_&;/' | "${psql[@]}" -d tenants >/dev/null
    for i in $(seq 1 "$databases"); do
        "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS db_$i" -c "CREATE DATABASE db_$i" >/dev/null
    done
}

sample() {
    local peak=0 n
    while :; do
        n=$("${psql[@]}" -d postgres -tA -c \
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'safe-migrate%'" 2>/dev/null || echo 0)
        [ "$n" -gt "$peak" ] && peak=$n && echo "$peak" > "$work/peak"
        sleep 0.02
    done
}

# Runs the fleet apply; prints "wall_s max_rss_mb peak_connections".
timed() {
    echo 0 > "$work/peak"
    sample &
    sampler=$!
    /usr/bin/time -v -o "$work/time" "$migrate" apply "$dir" --targets "$targets" "$@" > "$work/out" 2>&1 || {
        kill "$sampler"; sampler=""
        echo "apply failed:" >&2; tail -20 "$work/out" >&2; exit 1
    }
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=""
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time")
    echo "$wall $rss $(cat "$work/peak")"
}

echo "targets: $tenants tenant schemas in one database + $databases databases; history: 3 migrations"
echo "cores: $(nproc); server: $("${psql[@]}" -d postgres -tA -c 'SHOW server_version')"
printf '%-6s %12s %12s %10s %10s %16s\n' jobs "apply (s)" "per target" "max RSS MB" "peak conns" "rerun (s)"
total=$((tenants + databases))
for jobs in $jobs_list; do
    fresh_targets
    read -r wall rss peak < <(timed --jobs "$jobs")
    grep -q "$total target(s): $total applied" "$work/out" || { echo "not all applied:" >&2; tail -5 "$work/out" >&2; exit 1; }
    read -r rerun _ _ < <(timed --jobs "$jobs")
    grep -q "$total up to date" "$work/out" || { echo "rerun not up to date:" >&2; tail -5 "$work/out" >&2; exit 1; }
    per=$(awk -v w="$wall" -v n="$total" 'BEGIN { printf "%.0f ms", 1000 * w / n }')
    printf '%-6s %12s %12s %10s %10s %16s\n' "$jobs" "$wall" "$per" "$rss" "$peak" "$rerun"
done

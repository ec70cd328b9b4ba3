#!/usr/bin/env bash
# Lint benchmark: `migrate lint --format json` over a generated corpus,
# against the floor (sqlparser alone parsing the same statements).
#
#   bench/lint.sh [--runs N] [--files N] [--no-build] [--instructions]
#                 (MIGRATE=path: bench that binary)
#
# Builds release, writes FILES migration files x 20 statements into a temp
# dir (deterministic: bench/floor.rs `generate`), then runs N times:
#   lint:     /usr/bin/time -v migrate lint --format json --fail-on never DIR > /dev/null
#   floor:    bench_floor floor DIR parse     (split with safe_migrate::source::split,
#             then Parser::parse_sql(&PostgreSqlDialect {}, stmt) per statement, 1 thread)
#   tokenize: bench_floor floor DIR tokenize  (sqlparser's tokenizer alone)
# and prints the median of each figure, and the median of the per-run ratios
# lint CPU / floor CPU (each run's lint against the floor run next to it, so
# a machine that slows down for a while slows both). The floor's CPU is
# measured in-process (getrusage) around the sqlparser loop only; reading and
# splitting are shown apart. Then lint's max RSS on the first tenth of the
# files and how much it grows per file beyond, and the same for a history
# whose schema stops growing at a tenth of the files. --instructions also
# counts instructions with valgrind (callgrind): repeatable whatever else
# the machine runs.
set -euo pipefail

runs=5
files=5000
build=1
instructions=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --files) files="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --instructions) instructions=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    echo "error: /usr/bin/time is missing (apt-get install -y time)" >&2
    exit 2
fi
if [ "$build" = 1 ]; then
    cargo build --release --quiet --bin migrate --example bench_floor
fi
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-target}"
migrate="${MIGRATE:-$target_dir/release/migrate}"  # MIGRATE=path benches another build
floor="$target_dir/release/examples/bench_floor"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
corpus="$work/migrations"
"$floor" generate "$corpus" "$files"

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# Field from /usr/bin/time -v output.
field() { grep -F "$1" "$2" | sed 's/.*: //'; }
# "h:mm:ss" or "m:ss.ss" -> seconds.
to_seconds() { awk -F: '{s=0; for (i=1;i<=NF;i++) s=s*60+$i; printf "%.3f\n", s}'; }

: > "$work/lint.tsv"; : > "$work/floor.tsv"; : > "$work/tok.tsv"; : > "$work/ratio.tsv"
for _ in $(seq "$runs"); do
    /usr/bin/time -v "$migrate" lint --format json --fail-on never "$corpus" > /dev/null 2> "$work/time.txt"
    wall=$(field "Elapsed (wall clock)" "$work/time.txt" | to_seconds)
    user=$(field "User time" "$work/time.txt")
    sys=$(field "System time" "$work/time.txt")
    rss=$(field "Maximum resident set size" "$work/time.txt")
    echo "$wall $user $sys $rss" >> "$work/lint.tsv"
    lcpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')

    /usr/bin/time -v "$floor" floor "$corpus" parse > "$work/floor.out" 2> "$work/time.txt"
    fwall=$(field "Elapsed (wall clock)" "$work/time.txt" | to_seconds)
    frss=$(field "Maximum resident set size" "$work/time.txt")
    fcpu=$(sed 's/.*sqlparser_cpu=\([0-9.]*\).*/\1/' "$work/floor.out")
    fswall=$(sed 's/.*sqlparser_wall=\([0-9.]*\).*/\1/' "$work/floor.out")
    rscpu=$(sed 's/.*read_split_cpu=\([0-9.]*\).*/\1/' "$work/floor.out")
    echo "$fwall $(field "User time" "$work/time.txt") $(field "System time" "$work/time.txt") $frss $fcpu $fswall $rscpu" >> "$work/floor.tsv"
    awk -v l="$lcpu" -v f="$fcpu" 'BEGIN {printf "%.4f\n", l / f}' >> "$work/ratio.tsv"

    "$floor" floor "$corpus" tokenize > "$work/tok.out"
    sed 's/.*sqlparser_cpu=\([0-9.]*\).*/\1/' "$work/tok.out" >> "$work/tok.tsv"
done

col() { awk -v c="$2" '{print $c}' "$1" | median; }
l_wall=$(col "$work/lint.tsv" 1); l_user=$(col "$work/lint.tsv" 2); l_sys=$(col "$work/lint.tsv" 3); l_rss=$(col "$work/lint.tsv" 4)
l_cpu=$(awk '{print $2+$3}' "$work/lint.tsv" | median)
f_wall=$(col "$work/floor.tsv" 1); f_user=$(col "$work/floor.tsv" 2); f_sys=$(col "$work/floor.tsv" 3); f_rss=$(col "$work/floor.tsv" 4)
f_cpu=$(col "$work/floor.tsv" 5); f_pwall=$(col "$work/floor.tsv" 6); f_rs=$(col "$work/floor.tsv" 7)
f_proc_cpu=$(awk '{print $2+$3}' "$work/floor.tsv" | median)
t_cpu=$(median < "$work/tok.tsv")
statements=$(sed 's/.*statements=\([0-9]*\).*/\1/' "$work/floor.out")

echo
echo "corpus: $files files, $statements statements; $runs runs, medians; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %8s %8s %8s %8s %10s\n' "" "wall s" "user s" "sys s" "cpu s" "maxRSS MB"
printf '%-34s %8s %8s %8s %8s %10.1f\n' "migrate lint --format json" "$l_wall" "$l_user" "$l_sys" "$l_cpu" "$(echo "$l_rss" | awk '{print $1/1024}')"
printf '%-34s %8s %8s %8s %8s %10.1f\n' "floor process (read+split+parse)" "$f_wall" "$f_user" "$f_sys" "$f_proc_cpu" "$(echo "$f_rss" | awk '{print $1/1024}')"
printf '%-34s %8s %8s %8s %8s\n' "  floor: sqlparser parse only" "$f_pwall" "" "" "$f_cpu"
printf '%-34s %8s %8s %8s %8s\n' "  floor: read + split only" "" "" "" "$f_rs"
printf '%-34s %8s %8s %8s %8s\n' "  sqlparser tokenize only" "" "" "" "$t_cpu"
echo
ratio=$(median < "$work/ratio.tsv")
awk -v l="$l_cpu" -v f="$f_cpu" -v w="$l_wall" -v r="$l_rss" -v q="$ratio" 'BEGIN {
    printf "lint CPU / floor CPU      %.2fx   (target <= 1.30x; ratio of the medians)\n", l / f
    printf "  median of run ratios    %.2fx\n", q
    printf "lint wall                 %.2f s  (target <= 1.00 s)\n", w
    printf "lint CPU / wall           %.2f    (cores in use)\n", l / w
    printf "lint max RSS              %.1f MB (target <= 30 MB)\n", r / 1024
}'

# Memory against history length, max RSS of 3 runs each: the same corpus cut
# to a tenth (its first files), where every file adds a table, so the schema
# model grows with the files; and a history whose schema stops growing at a
# tenth (`generate DIR N TABLES`: file n re-creates table slot
# (n - 1) % TABLES + 1), at a tenth of the files and at all of them.
small=$((files / 10))
if [ "$small" -ge 1 ]; then
    max_rss() {
        for _ in 1 2 3; do
            /usr/bin/time -v "$migrate" lint --format json --fail-on never "$1" > /dev/null 2> "$work/time.txt"
            field "Maximum resident set size" "$work/time.txt"
        done | median
    }
    mkdir "$work/small"
    # sed, not head: head would stop reading and sort would die of SIGPIPE.
    find "$corpus" -name '*.sql' | sort -V | sed -n "1,${small}p" | xargs -I{} cp {} "$work/small/"
    s_rss=$(max_rss "$work/small")
    "$floor" generate "$work/steady-small" "$small" "$small"
    "$floor" generate "$work/steady" "$files" "$small"
    ks_rss=$(max_rss "$work/steady-small")
    k_rss=$(max_rss "$work/steady")
    awk -v s="$s_rss" -v l="$l_rss" -v a="$ks_rss" -v k="$k_rss" -v n="$small" -v N="$files" 'BEGIN {
        printf "lint max RSS at %d files   %.1f MB: %.2f KB more per file up to %d (each file adds a table to the schema model)\n", n, s / 1024, (l - s) / (N - n), N
        printf "  schema held at %d tables: %.1f MB at %d files, %.1f MB at %d: %.2f KB more per file\n", n, a / 1024, n, k / 1024, N, (k - a) / (N - n)
    }'
fi

if [ "$instructions" = 1 ]; then
    if ! command -v valgrind > /dev/null; then
        echo "error: --instructions needs valgrind" >&2
        exit 2
    fi
    count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*refs: *//p' | tr -d ,; }
    l_ins=$(count "$migrate" lint --format json --fail-on never "$corpus")
    p_ins=$(count "$floor" floor "$corpus" parse)
    r_ins=$(count "$floor" floor "$corpus" read)
    awk -v l="$l_ins" -v p="$p_ins" -v r="$r_ins" 'BEGIN {
        printf "\ninstructions (callgrind): lint %.3f G, floor process %.3f G, of which read + split %.3f G\n", l / 1e9, p / 1e9, r / 1e9
        printf "lint / floor (parse only) %.2fx\n", l / (p - r)
    }'
fi

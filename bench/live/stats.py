#!/usr/bin/env python3
"""Figures from pgbench per-transaction logs (bench/live.sh).

A log line (pgbench 15, --log with --rate):
    client_id transaction_no time script_no time_epoch time_us schedule_lag
`time` is the latency in microseconds counted from the transaction's
scheduled start (so time spent queued behind a lock counts), or
`skipped`/`failed`; the completion time is time_epoch + time_us / 1e6.

Transactions "during the migration" are those in flight at some point of
[t0, t1]: scheduled before t1 and completed after t0. The longest stall is
the longest gap between consecutive completions (any transaction) that
overlaps [t0, t1], the window's edges included.
"""
import argparse
import sys


def read(paths):
    done, failed = [], 0
    for path in paths:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                if not parts[2].isdigit():
                    failed += parts[2] == "failed"
                    continue
                latency = int(parts[2]) / 1e6
                end = int(parts[4]) + int(parts[5]) / 1e6
                done.append((end, latency))
    done.sort()
    return done, failed


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--t1", type=float, required=True)
    ap.add_argument("--baseline", action="store_true", help="print the transactions/s in [t0, t1]")
    ap.add_argument("--baseline-tps", type=float)
    ap.add_argument("--failed", type=int, default=0, help="failures pgbench reported on stderr")
    a = ap.parse_args()
    done, failed_logged = read(a.logs)
    if a.baseline:
        n = sum(1 for end, _ in done if a.t0 + 1 <= end <= a.t1 - 1)
        print(f"{n / max(a.t1 - a.t0 - 2, 1e-9):.1f}")
        return
    window = [(end, lat) for end, lat in done if end >= a.t0 and end - lat <= a.t1]
    lats = sorted(lat for _, lat in window)
    ends = [end for end, _ in done]
    stall = 0.0
    edges = [a.t0] + [e for e in ends if a.t0 < e < a.t1] + [a.t1]
    # Gaps that start before t0 or end after t1 count from the nearest completions outside.
    before = [e for e in ends if e <= a.t0]
    after = [e for e in ends if e >= a.t1]
    if before:
        edges[0] = before[-1]
    if after:
        edges[-1] = after[0]
    for x, y in zip(edges, edges[1:]):
        stall = max(stall, y - x)
    wall = a.t1 - a.t0
    completed = sum(1 for e in ends if a.t0 <= e <= a.t1)
    tps = completed / wall if wall > 0 else float("nan")
    rel = f"{100 * tps / a.baseline_tps:.0f}%" if a.baseline_tps else "-"
    over_100 = sum(1 for l in lats if l > 0.1)
    over_1s = sum(1 for l in lats if l > 1.0)
    failed = a.failed + failed_logged
    print(
        f"{wall:.2f} | {1000 * pct(lats, 50):.1f} | {1000 * pct(lats, 99):.1f} | {1000 * (lats[-1] if lats else 0):.0f} | "
        f"{over_100} | {over_1s} | {failed} | {stall:.2f} | {rel}"
    )


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks respite-load's acknowledged writes against a Redis server (see docs/load-tool.md).

For every report given: each key `{prefix}:{client}:{n}` with `n` in the client's `set_acked`
ranges must exist and hold its own name, and each counter must satisfy
`incr_acked <= value <= incr_acked + incr_unknown` and `value >= incr_last`.

Prints one line per report and a total; with --json also writes the totals as JSON. Exits 0 when
nothing was lost or out of bounds, 1 otherwise, 2 when the server or a report cannot be read.

Usage: scripts/check-load.py --server HOST:PORT [--json OUT] REPORT.json [REPORT.json ...]
"""

from __future__ import annotations

import argparse
import json
import sys

import redis

CHUNK = 1000  # keys per MGET


def check(r: redis.Redis, rep: dict, examples: list[str]) -> dict:
    """Returns the counts for one report; appends up to a few examples of what went wrong."""
    pfx = rep["key_prefix"]
    sets_checked = lost_sets = counters_checked = bad_counters = 0
    for c in rep["per_client"]:
        cid = c["client"]
        for a, b in c.get("set_acked", []):
            for lo in range(a, b + 1, CHUNK):
                keys = [f"{pfx}:{cid}:{n}" for n in range(lo, min(b, lo + CHUNK - 1) + 1)]
                got = r.mget(keys)
                for k, v in zip(keys, got):
                    sets_checked += 1
                    if v != k.encode():
                        lost_sets += 1
                        if len(examples) < 10:
                            examples.append(f"{k}: expected its own name, found {v!r}")
        acked, unknown = c.get("incr_acked", 0), c.get("incr_unknown", 0)
        if acked == 0 and unknown == 0:
            continue
        counters_checked += 1
        raw = r.get(c["incr_key"])
        value = int(raw) if raw is not None else 0
        if not (acked <= value <= acked + unknown) or value < c.get("incr_last", 0):
            bad_counters += 1
            if len(examples) < 10:
                examples.append(f"{c['incr_key']}={value}, acknowledged {acked}, unknown {unknown}, "
                                f"last seen {c.get('incr_last', 0)}")
    return {"sets_checked": sets_checked, "lost_sets": lost_sets,
            "counters_checked": counters_checked, "bad_counters": bad_counters}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="HOST:PORT of the server holding the data")
    p.add_argument("--json", help="write the totals here as JSON")
    p.add_argument("--quiet", action="store_true", help="print only problems")
    p.add_argument("reports", nargs="+")
    args = p.parse_args(argv)
    host, port = args.server.rsplit(":", 1)
    try:
        r = redis.Redis(host=host, port=int(port), socket_timeout=30)
        r.ping()
    except (redis.RedisError, ValueError) as e:
        print(f"check-load: cannot reach {args.server}: {e}", file=sys.stderr)
        return 2
    total = {"sets_checked": 0, "lost_sets": 0, "counters_checked": 0, "bad_counters": 0}
    examples: list[str] = []
    for path in args.reports:
        try:
            with open(path) as f:
                rep = json.load(f)
            got = check(r, rep, examples)
        except (OSError, ValueError, KeyError) as e:
            print(f"check-load: cannot read {path}: {e}", file=sys.stderr)
            return 2
        except redis.RedisError as e:
            print(f"check-load: {args.server}: {e}", file=sys.stderr)
            return 2
        for k, v in got.items():
            total[k] += v
        if not args.quiet:
            print(f"{path}: {got['sets_checked']} acknowledged SETs, {got['lost_sets']} lost; "
                  f"{got['counters_checked']} counters, {got['bad_counters']} out of bounds")
    total["lost_writes"] = total["lost_sets"] + total["bad_counters"]
    for e in examples:
        print(f"  {e}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(total, f)
    return 1 if total["lost_writes"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

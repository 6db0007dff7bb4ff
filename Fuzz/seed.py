#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made at run time from the repository's own fixtures
(nothing large is committed): requests from tests/test_resp_corpus.py and the Redis rules in
Tests/RESPTests/RequestScannerRedisRulesTests.swift, replies from the shaping corpus fixture,
the reference configuration files, the hand-written seeds in Fuzz/seeds/<Target>/ (payloads;
zero option bytes are put before them), and the inputs that once failed a target in
Fuzz/regressions/<Target>/ (whole, replayed as they are).
Usage: Fuzz/seed.py OUTDIR   (writes OUTDIR/<Target>/seed-N)"""
import ast
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Option bytes each target reads before its payload (Fuzz/Support/FuzzInput.swift).
HEADER = {"RequestScanner": 2, "ReplyScanner": 2, "RESP2Shaper": 3, "Config": 1, "Maintenance": 1}


def resp_command(args) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def requests():
    out = []
    tree = ast.parse(open(os.path.join(ROOT, "tests/test_resp_corpus.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("CORPUS", "SEED"):
            for elt in node.value.elts:
                try:
                    out.append(resp_command(ast.literal_eval(elt)))
                except (ValueError, TypeError):
                    pass
    rules = open(os.path.join(ROOT, "Tests/RESPTests/RequestScannerRedisRulesTests.swift")).read()
    for m in re.finditer(r'^\s*\("((?:[^"\\]|\\.)*)", ', rules, re.M):
        s = m.group(1).replace("\\u{0}", "\x00").encode().decode("unicode_escape").encode("latin-1")
        out.append(s)
    out += [b"PING\r\n", b"SET k \"a\\x41\" 'b\\'c'\r\n", b"  \r\n", b"GET k\n"]
    return out


def unescape(s: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}.get(n, n.encode()); i += 2; continue
        out += c.encode(); i += 1
    return bytes(out)


def replies():
    out = []
    for line in open(os.path.join(ROOT, "Tests/RespiteCommandsTests/Fixtures/shaping-corpus.resp"), encoding="utf-8"):
        if line.startswith("resp2 ") or line.startswith("resp3 "):
            out.append(unescape(line[6:].rstrip("\n")))
    out += [b":-9223372036854775808\r\n", b"|1\r\n+a\r\n:1\r\n*1\r\n=7\r\ntxt:abc\r\n", b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"]
    return out


def configs():
    d = os.path.join(ROOT, "config")
    return [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d)) if f.endswith(".conf")]


def main() -> None:
    outdir = sys.argv[1]
    sets = {"RequestScanner": requests(), "ReplyScanner": replies(), "RESP2Shaper": replies(),
            "Config": configs(), "Maintenance": []}
    for target, payloads in sets.items():
        tdir = os.path.join(outdir, target)
        os.makedirs(tdir, exist_ok=True)
        hand = os.path.join(ROOT, "Fuzz/seeds", target)
        if os.path.isdir(hand):
            payloads = payloads + [open(os.path.join(hand, f), "rb").read() for f in sorted(os.listdir(hand))]
        inputs = [bytes(HEADER[target]) + p for p in payloads]
        # Inputs that once failed a target, option bytes and all, replayed as they are.
        reg = os.path.join(ROOT, "Fuzz/regressions", target)
        if os.path.isdir(reg):
            inputs += [open(os.path.join(reg, f), "rb").read() for f in sorted(os.listdir(reg))]
        for data in inputs:
            name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
            with open(os.path.join(tdir, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate Respite's built-in command table from a real redis-server.

Starts redis-server on a free 127.0.0.1 port, reads `COMMAND` (RESP3) over a raw socket, and
writes:

  Sources/RespiteCommands/BuiltinCommands.swift       the table, one text line per command
  Tests/RespiteCommandsTests/CommandReplyFixture.swift raw `COMMAND INFO` replies (RESP2 and
                                                       RESP3) for a few commands, as test fixtures

The server is stopped by PID before the script exits. Output is deterministic for a given
server version: commands and subcommands are sorted by name, and lists keep server order.
The fixture's subcommand entries are sorted too (the server lists them in hash order).

Usage: python3 scripts/gen-command-table.py [--redis-server PATH]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE_PATH = os.path.join(ROOT, "Sources", "RespiteCommands", "BuiltinCommands.swift")
FIXTURE_PATH = os.path.join(ROOT, "Tests", "RespiteCommandsTests", "CommandReplyFixture.swift")
FIXTURE_COMMANDS = ["get", "mset", "config", "xread", "blpop", "subscribe", "eval"]
DEADLINE_SECONDS = 20.0


# ---------------------------------------------------------------- RESP over a socket


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_SECONDS)
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def read_raw(self):
        """Reads one whole reply and returns (raw bytes, decoded value)."""
        while True:
            try:
                value, end = parse(self.buf, 0)
                raw, self.buf = self.buf[:end], self.buf[end:]
                return raw, value
            except Incomplete:
                self._fill()

    def call(self, *args):
        self.send(*args)
        return self.read_raw()[1]


class Incomplete(Exception):
    pass


class Set(list):
    """A RESP3 set, kept distinct from an array."""


class Map(list):
    """A RESP3 map, as alternating keys and values."""


def parse(buf, pos):
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        raise Incomplete()
    kind, line, pos = buf[pos:pos + 1], buf[pos + 1:nl], nl + 2
    if kind in (b"+", b"("):
        return line.decode(), pos
    if kind == b",":
        return float(line), pos
    if kind == b"-":
        raise RuntimeError("server error: " + line.decode())
    if kind == b":":
        return int(line), pos
    if kind == b"#":
        return line == b"t", pos
    if kind == b"_":
        return None, pos
    if kind in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise Incomplete()
        return buf[pos:pos + n].decode(), pos + n + 2
    if kind in (b"*", b"~", b">", b"%"):
        n = int(line)
        if n < 0:
            return None, pos
        count = n * 2 if kind == b"%" else n
        items = []
        for _ in range(count):
            item, pos = parse(buf, pos)
            items.append(item)
        return (Set if kind == b"~" else Map if kind == b"%" else list)(items), pos
    raise RuntimeError("unexpected RESP type byte %r" % kind)


# ---------------------------------------------------------------- server lifecycle


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, workdir):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--daemonize", "no", "--enable-module-command", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited with status %d" % proc.returncode)
        try:
            conn = Conn(port)
            if conn.call("PING") == "PONG":
                return proc, conn
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not answer PING within %.0fs" % DEADLINE_SECONDS)
        time.sleep(0.05)


def stop_server(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- table encoding


def field_list(items):
    items = [str(i).lower().lstrip("@") for i in (items or [])]
    for i in items:
        if not i or any(c in i for c in " ,\n\\\""):
            raise RuntimeError("cannot encode list item %r" % i)
    return ",".join(items) if items else "-"


def encode(entry, lines):
    name, arity, flags, first, last, step, acl, tips = entry[:8]
    subcommands = entry[9] if len(entry) > 9 else []
    if not name or any(c in name for c in " \n\\\""):
        raise RuntimeError("cannot encode command name %r" % name)
    lines.append(" ".join([name.lower(), str(arity), field_list(flags), str(first), str(last),
                           str(step), field_list(acl), field_list(tips)]))
    for sub in sorted(subcommands or [], key=lambda e: e[0].lower()):
        encode(sub, lines)


def write_table(version, entries):
    lines = []
    for entry in sorted(entries, key=lambda e: e[0].lower()):
        encode(entry, lines)
    top = sum(1 for e in entries)
    body = "\n".join(lines)
    text = f'''// GENERATED by scripts/gen-command-table.py from redis-server {version}. Do not edit by hand.
// Regenerate: python3 scripts/gen-command-table.py
//
// One line per command, subcommands (`parent|sub`) right after their parent. Fields, space
// separated: name arity flags first-key last-key key-step acl-categories tips. Lists are comma
// separated, `-` when empty. Kept as one string literal so the file type-checks instantly;
// `BuiltinCommands.parse` turns it into `CommandInfo` values once, at first use.

extension BuiltinCommands {{
    /// The redis-server version the table was generated from.
    static let serverVersion: StaticString = "{version}"
    /// Number of top-level commands in `text`.
    static let commandCount: Int = {top}
    /// Number of lines (commands plus subcommands) in `text`.
    static let lineCount: Int = {len(lines)}

    static let text: StaticString = """
{body}
"""
}}
'''
    with open(TABLE_PATH, "w") as f:
        f.write(text)
    return top, len(lines)


def swift_bytes_literal(raw):
    # Raw RESP is ASCII for the chosen commands; escape for a plain Swift string literal.
    out = []
    for b in raw:
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\u{%x}" % b)
    return "".join(out)


def canonical_command_reply(raw):
    """Sorts subcommand entries by name inside a raw `COMMAND INFO` reply, keeping every entry's
    bytes as the server sent them. The server lists subcommands in hash-table order, which
    changes from run to run; sorting keeps the committed fixture stable."""
    def elements(pos):
        # Returns (header end, [(start, end) of each element]) of the aggregate at pos.
        nl = raw.index(b"\r\n", pos)
        n, at, spans = int(raw[pos + 1:nl]), nl + 2, []
        for _ in range(max(n, 0)):
            _, end = parse(raw, at)
            spans.append((at, end))
            at = end
        return nl + 2, spans

    def entry(start, end):
        head, fields = elements(start)
        if len(fields) < 10:
            return raw[start:end]
        subs_head, subs = elements(fields[9][0])
        ordered = sorted(subs, key=lambda span: parse(raw, span[0])[0][0])
        return (raw[start:fields[9][0]] + raw[fields[9][0]:subs_head] +
                b"".join(entry(a, b) for a, b in ordered))

    head, top = elements(0)
    return raw[:head] + b"".join(entry(a, b) for a, b in top)


def write_fixture(version, resp2_raw, resp3_raw):
    def chunked(raw):
        # One source line per RESP line inside a multi-line literal: each ends in an escaped
        # CRLF and a trailing backslash (no newline), so the literal is exactly the wire bytes
        # and type-checks instantly.
        if not raw.endswith(b"\r\n"):
            raise RuntimeError("reply does not end in CRLF")
        parts = raw[:-2].split(b"\r\n")
        lines = ["        %s\\r\\n" % swift_bytes_literal(p).replace('"""', '\\"""') for p in parts]
        # Every line but the last continues without a newline; the last one's newline is the
        # literal's closing line break, which Swift does not include.
        body = "\n".join([l + "\\" for l in lines[:-1]] + lines[-1:])
        return '        """\n' + body + '\n        """'
    cmds = " ".join(c.upper() for c in FIXTURE_COMMANDS)
    text = f'''// GENERATED by scripts/gen-command-table.py from redis-server {version}. Do not edit by hand.
// Regenerate: python3 scripts/gen-command-table.py
//
// Raw replies to `COMMAND INFO {cmds}` captured from a real server, in RESP2 and RESP3,
// with each container's subcommand entries sorted by name (bytes otherwise as sent).

enum CommandReplyFixture {{
    static let serverVersion = "{version}"
    static let commands: [String] = [{", ".join('"%s"' % c for c in FIXTURE_COMMANDS)}]

    static let resp2: String =
{chunked(resp2_raw)}

    static let resp3: String =
{chunked(resp3_raw)}
}}
'''
    with open(FIXTURE_PATH, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="respite-gen-")
    proc = None
    try:
        proc, conn = start_server(args.redis_server, workdir)
        info = conn.call("INFO", "server")
        version = next(l.split(":", 1)[1].strip() for l in info.splitlines()
                       if l.startswith("redis_version:"))

        conn.send("COMMAND", "INFO", *FIXTURE_COMMANDS)
        resp2_raw, _ = conn.read_raw()
        conn.call("HELLO", "3")
        conn.send("COMMAND", "INFO", *FIXTURE_COMMANDS)
        resp3_raw, _ = conn.read_raw()

        entries = conn.call("COMMAND")
        count = conn.call("COMMAND", "COUNT")
        if len(entries) != count:
            raise RuntimeError("COMMAND returned %d entries, COMMAND COUNT says %d" % (len(entries), count))
        conn.sock.close()
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(workdir, ignore_errors=True)

    top, total = write_table(version, entries)
    write_fixture(version, canonical_command_reply(resp2_raw), canonical_command_reply(resp3_raw))
    print("redis-server %s: %d commands, %d with subcommands -> %s" %
          (version, top, total, os.path.relpath(TABLE_PATH, ROOT)))
    print("fixture -> %s" % os.path.relpath(FIXTURE_PATH, ROOT))


if __name__ == "__main__":
    sys.exit(main())

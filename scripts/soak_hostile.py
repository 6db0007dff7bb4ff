"""The soak's hostile clients, one kind at a time. Each kind does what #8 says a client must not
be able to hurt others with, and returns what it saw plus its own checks (`checks`: name -> ok);
the runner in soak.py adds the checks every kind shares (Respite alive, no well-behaved client
hurt, memory back)."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from harness import Conn, Error, cmd, hello3

MAXCLIENTS_ERR = b"-ERR max number of clients reached\r\n"
BAD_FRAMES = [b"*1\r\n$04\r\nPING\r\n", b"*01\r\n$4\r\nPING\r\n", b"*1\r\n$-0\r\n\r\n",
              b"*2\r\n$3\r\nGET\r\n$00\r\n\r\n"]
DEEP_EVAL = "local t = {1} for i = 1, 199 do t = {t} end return t"   # a 200-deep reply
BIG = 10 * 1024 * 1024


@dataclass
class Ctx:
    addr: tuple
    admin_port: int
    pid: int
    maxclients: int
    pinned_max: int
    backend: Callable[[], tuple]      # the redis-server holding the data now (it moves)
    gate: threading.Lock              # held by respite-load runs; the connection burst takes it
    burst: Callable[[float], None]    # tells the well-behaved clients a burst runs for N seconds
    cycle: int = 0


def probe(addr, data: bytes, wait: float = 2.0) -> dict:
    """Sends raw bytes and reads until EOF or `wait` of silence: the reply bytes and whether the
    server closed the connection."""
    out, closed = b"", False
    with socket.create_connection(addr, timeout=wait) as s:
        s.sendall(data)
        end = time.monotonic() + wait
        while time.monotonic() < end and len(out) < 1 << 16:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
            if out.endswith(b"\r\n"):
                s.settimeout(0.3)
    return {"reply": out.decode("latin-1")[:200], "closed": closed}


def still_open(c: Conn, wait: float = 0.2) -> bool:
    c.sock.settimeout(wait)
    try:
        return c.sock.recv(1, socket.MSG_PEEK) != b""
    except socket.timeout:
        return True
    except OSError:
        return False


def named_clients(addr, prefix: str) -> list[str]:
    """Names of Respite's clients (CLIENT LIST in its own terms) that start with `prefix`."""
    with Conn(addr, timeout=5) as c:
        raw = c.call("CLIENT", "LIST")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return [f for line in text.splitlines() for f in line.split() if f.startswith("name=" + prefix)]


# --- the kinds -------------------------------------------------------------------------------

def bad_frames(ctx: Ctx) -> dict:
    """Frames Redis rejects: the answer and the close must be redis-server's own."""
    rows, checks = [], {}
    for i, frame in enumerate(BAD_FRAMES):
        got, want = probe(ctx.addr, frame), probe(ctx.backend(), frame)
        rows.append({"frame": frame.decode(), "respite": got, "redis": want})
        checks[f"frame {i} answered as redis-server"] = got == want
    return {"frames": rows, "checks": checks}


def xreadgroup_streams(ctx: Ctx) -> dict:
    """XREADGROUP with a group named `streams` and BLOCK 0 must block only its own client."""
    key = f"soak:rs:{ctx.cycle}"
    with Conn(ctx.addr, timeout=10) as a, Conn(ctx.addr, timeout=10) as b:
        created = a.call("XGROUP", "CREATE", key, "streams", "$", "MKSTREAM")
        a.send_cmd("XREADGROUP", "GROUP", "streams", "c1", "BLOCK", "0", "STREAMS", key, ">")
        try:
            early = a.read(timeout=3.0)
        except TimeoutError:
            early = None
        entry = b.call("XADD", key, "*", "f", "v")
        try:
            woken = early if early is not None else a.read(timeout=5.0)
        except (TimeoutError, EOFError) as e:
            woken = f"{type(e).__name__}"
        b.call("DEL", key)
    got = repr(woken)
    return {"xgroup_create": repr(created), "early_reply": repr(early), "entry": repr(entry), "woken": got[:200],
            "checks": {"blocked until an entry came": early is None,
                       "woken with the entry": isinstance(entry, bytes) and entry.decode() in got}}


def big_replies(ctx: Ctx) -> dict:
    """A 200-deep EVAL reply and a 10 MB bulk pass through as redis-server sends them."""
    checks, seen = {}, {}
    with Conn(ctx.backend(), timeout=10) as d:
        want = {2: d.call_raw("EVAL", DEEP_EVAL, "0")}
        hello3(d)
        want[3] = d.call_raw("EVAL", DEEP_EVAL, "0")
    payload = (hashlib.sha256(str(ctx.cycle).encode()).hexdigest().encode() * (BIG // 64 + 1))[:BIG]
    for proto in (2, 3):
        with Conn(ctx.addr, timeout=20) as c:
            if proto == 3:
                hello3(c)
            try:
                deep = c.call_raw("EVAL", DEEP_EVAL, "0")
                checks[f"RESP{proto} 200-deep EVAL reply as redis-server's"] = deep == want[proto]
                seen[f"resp{proto}_deep"] = deep[:40].decode("latin-1")
                c.call("SET", "soak:big10", payload)
                got = c.call("GET", "soak:big10")
                checks[f"RESP{proto} 10 MB bulk intact"] = got == payload
                seen[f"resp{proto}_big_len"] = len(got) if isinstance(got, bytes) else repr(got)[:100]
            except Exception as e:  # noqa: BLE001
                checks[f"RESP{proto} replies"] = False
                seen[f"resp{proto}_error"] = f"{type(e).__name__}: {e}"[:200]
    with Conn(ctx.addr, timeout=10) as c:
        c.call("DEL", "soak:big10")
    return {**seen, "checks": checks}


def multi_client_kill(ctx: Ctx) -> dict:
    """MULTI; CLIENT KILL TYPE normal; EXEC must not reach Respite's shared connections."""
    with Conn(ctx.addr, timeout=10) as a:
        replies = [repr(a.call("MULTI")), repr(a.call("CLIENT", "KILL", "TYPE", "normal"))]
        try:
            replies.append(repr(a.call("EXEC")))
        except (EOFError, ConnectionError, TimeoutError) as e:
            replies.append(type(e).__name__)
    return {"replies": replies, "checks": {}}


def tracking_redirect(ctx: Ctx) -> dict:
    """CLIENT TRACKING ON REDIRECT <B> while B is in MULTI (a command already queued, so B holds
    its own upstream connection): B's replies stay exactly Redis's (B is RESP2 and not subscribed:
    Redis sends it nothing), and a later client C never sees A's keys."""
    key = f"soak:tracked:{ctx.cycle}"
    checks, seen = {}, {}
    with Conn(ctx.addr, timeout=5) as a, Conn(ctx.addr, timeout=5) as b, Conn(ctx.addr, timeout=5) as d:
        bid = b.call("CLIENT", "ID")
        seen["b_multi"] = [repr(b.call("MULTI")), repr(b.call("SET", "soak:b", "v"))]
        seen["tracking"] = repr(a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)))
        a.call("GET", key)
        d.call("SET", key, "1")
        b.send(cmd("EXEC"))
        frames, extra = [], ""
        try:
            frames = [b.read_raw()]
            b.expect_no_frame(0.3)
        except AssertionError as e:
            extra = str(e)
        except (TimeoutError, EOFError) as e:
            extra = type(e).__name__
        seen["b_frames"] = [f.decode("latin-1")[:80] for f in frames] + ([extra[:200]] if extra else [])
        checks["B's replies exactly Redis's"] = frames == [b"*1\r\n+OK\r\n"] and not extra
        b.close()
        with Conn(ctx.addr, timeout=5) as c:
            c.send_cmd("SUBSCRIBE", "soak:c-chan")
            c.read()
            for i in range(3):
                a.call("GET", key)
                d.call("SET", key, str(i))
            d.call("PUBLISH", "soak:c-chan", "control")
            try:
                first = c.read(timeout=3)
            except (TimeoutError, EOFError) as e:
                first = type(e).__name__
            seen["c_first"] = repr(first)[:200]
            checks["C sees only its own channel"] = first == [b"message", b"soak:c-chan", b"control"]
        a.call("CLIENT", "TRACKING", "OFF")
    return {**seen, "checks": checks}


def blocked_pipeline(ctx: Ctx, seconds: float = 5.0, cap: int = 16 << 20) -> dict:
    """A client blocked in BLPOP that pipelines CLIENT INFO and never reads (bounded: `seconds`
    or `cap` bytes sent, whichever first)."""
    chunk = cmd("CLIENT", "INFO") * 2000
    sent, stopped = 0, False
    with Conn(ctx.addr, timeout=5) as a:
        a.send_cmd("BLPOP", f"soak:never:{ctx.cycle}", "0")
        a.sock.settimeout(0.5)
        end = time.monotonic() + seconds
        while time.monotonic() < end and sent < cap:
            try:
                sent += a.sock.send(chunk)
            except socket.timeout:
                stopped = True
                break
            except OSError:
                break
        time.sleep(0.5)
        open_after = still_open(a)
    return {"bytes_sent": sent, "respite_stopped_reading": stopped, "open_after": open_after, "checks": {}}


def non_reading(ctx: Ctx, gets: int = 600, messages: int = 3000) -> dict:
    """A client that pipelines GETs of a 1 MB value and never reads (600 MB of replies), then a
    subscriber that never reads while 3,000 messages of 64 KB are published to its channel."""
    one_mb = b"x" * (1 << 20)
    with Conn(ctx.addr, timeout=10) as c:
        c.call("SET", "soak:big1m", one_mb)
    seen = {}
    with Conn(ctx.addr, timeout=5) as a:
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        a.call("CLIENT", "SETNAME", "soak-nonreader")
        a.sock.settimeout(2)
        try:
            a.sock.sendall(cmd("GET", "soak:big1m") * gets)
        except OSError as e:
            seen["send"] = type(e).__name__
        time.sleep(2.0)
        seen["nonreader_cut"] = not named_clients(ctx.addr, "soak-nonreader")
    with Conn(ctx.addr, timeout=5) as s, Conn(ctx.addr, timeout=20) as p:
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.call("CLIENT", "SETNAME", "soak-nonreading-sub")
        s.send_cmd("SUBSCRIBE", "soak:flood")
        s.read()
        msg = b"m" * (64 << 10)
        for i in range(0, messages, 100):
            p.send(cmd("PUBLISH", "soak:flood", msg) * 100)
            for _ in range(100):
                p.read()
        time.sleep(1.0)
        seen["subscriber_cut"] = not named_clients(ctx.addr, "soak-nonreading-sub")
    with Conn(ctx.addr, timeout=10) as c:
        c.call("DEL", "soak:big1m")
    return {**seen, "checks": {"non-reading subscriber cut (Redis's pubsub limit: 32mb hard)": seen["subscriber_cut"]}}


def unblock_flood(ctx: Ctx, n: int = 3000) -> dict:
    """3,000 pipelined CLIENT UNBLOCK <id>: Respite's fds and redis-server's clients stay within
    upstream-pinned-max."""
    peak = {"redis_clients": 0}
    done = threading.Event()

    def watch():
        with Conn(ctx.backend(), timeout=5) as d:
            for _ in range(100_000):
                info = d.call("INFO", "clients").decode()
                for line in info.splitlines():
                    if line.startswith("connected_clients:"):
                        peak["redis_clients"] = max(peak["redis_clients"], int(line.split(":")[1]))
                if done.wait(0.05):
                    return
    w = threading.Thread(target=watch, daemon=True)
    with Conn(ctx.addr, timeout=10) as b, Conn(ctx.addr, timeout=30) as a:
        bid = b.call("CLIENT", "ID")
        b.send_cmd("BLPOP", f"soak:never2:{ctx.cycle}", "0")
        # As against Redis, an unblock only counts once the BLPOP has arrived (Respite shows it
        # blocked); it may still be setting up the upstream connection for it.
        for _ in range(500):
            if "flags=b" in a.call("CLIENT", "LIST", "ID", str(bid)).decode():
                break
            time.sleep(0.01)
        w.start()
        a.send(cmd("CLIENT", "UNBLOCK", str(bid)) * n)
        replies = {}
        for _ in range(n):
            v = a.read()
            replies[repr(v)[:40]] = replies.get(repr(v)[:40], 0) + 1
        try:
            unblocked = repr(b.read(timeout=5))
        except (TimeoutError, EOFError) as e:
            unblocked = type(e).__name__
    done.set()
    w.join(5)
    return {"replies": replies, "blocked_client_got": unblocked, "redis_clients_peak": peak["redis_clients"],
            "checks": {"unblocked once, as Redis does (one 1, then 0s)": replies == {"1": 1, "0": n - 1}
                       and unblocked == "None"}}


def maxclients_burst(ctx: Ctx, extra: int = 50) -> dict:
    """maxclients + 50 connections at once: the ones past the limit get Redis's error and are
    closed, the others are served, and everyone else goes on."""
    if not ctx.gate.acquire(timeout=180):
        return {"checks": {"no respite-load run in the way": False}}
    socks, counts = [], {"pong": 0, "refused": 0, "closed": 0, "timeout": 0, "other": 0, "connect_failed": 0}
    try:
        ctx.burst(30.0)
        for _ in range(ctx.maxclients + extra):
            try:
                s = socket.create_connection(ctx.addr, timeout=2)
                socks.append(s)
            except OSError:
                counts["connect_failed"] += 1
        for s in socks:
            try:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
            except OSError:
                pass
        for s in socks:
            s.settimeout(5)
            try:
                got = s.recv(256)
            except socket.timeout:
                counts["timeout"] += 1
                continue
            except OSError:
                got = b""
            if got == b"+PONG\r\n":
                counts["pong"] += 1
            elif got.startswith(MAXCLIENTS_ERR):
                counts["refused"] += 1
            elif not got:
                counts["closed"] += 1
            else:
                counts["other"] += 1
    finally:
        for s in socks:
            s.close()
        ctx.burst(2.0)
        ctx.gate.release()
    fresh = {"reply": ""}
    end = time.monotonic() + 3.0          # the closes above reach Respite a moment later
    while time.monotonic() < end and fresh["reply"] != "+PONG\r\n":
        fresh = probe(ctx.addr, b"*1\r\n$4\r\nPING\r\n", wait=2.0)
        time.sleep(0.1)
    return {**counts, "fresh_after": fresh["reply"],
            "checks": {"some refused with Redis's error": counts["refused"] > 0,
                       "every connection answered in time": counts["timeout"] == 0 and counts["other"] == 0,
                       "a new client is served within 3 s after": fresh["reply"] == "+PONG\r\n"}}


def admin_post(ctx: Ctx, size: int = 256 << 20, seconds: float = 10.0) -> dict:
    """A 256 MB POST to the admin endpoint (bounded by `seconds`)."""
    sent, status = 0, ""
    with socket.create_connection(("127.0.0.1", ctx.admin_port), timeout=2) as s:
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % size)
        block = b"\0" * (1 << 20)
        end = time.monotonic() + seconds
        while sent < size and time.monotonic() < end:
            try:
                sent += s.send(block)
            except (socket.timeout, OSError):
                break
        s.settimeout(3)
        try:
            status = s.recv(200).split(b"\r\n")[0].decode("latin-1")
        except OSError as e:
            status = type(e).__name__
    return {"bytes_sent": sent, "status": status, "checks": {}}


KINDS = [("bad-frames", bad_frames), ("xreadgroup-streams", xreadgroup_streams), ("big-replies", big_replies),
         ("multi-client-kill", multi_client_kill), ("tracking-redirect", tracking_redirect),
         ("blocked-pipeline", blocked_pipeline), ("non-reading", non_reading), ("unblock-flood", unblock_flood),
         ("maxclients-burst", maxclients_burst), ("admin-post", admin_post)]

__all__ = ["Ctx", "KINDS", "Error"]

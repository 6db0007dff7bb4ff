"""Malformed and hostile input: Respite answers with redis-server's exact error text,
closes where redis closes, never crashes, and keeps serving everyone else."""

import socket
import threading
import time

import pytest

from harness import DIRECT, Conn, cmd, make_target, wait_until

# (name, bytes, redis closes the connection after answering)
CASES = [
    ("huge bulk length", b"*1\r\n$999999999999\r\n", True),
    ("negative bulk length", b"*1\r\n$-1\r\n", True),
    ("non-numeric bulk length", b"*1\r\n$abc\r\n", True),
    ("non-numeric multibulk length", b"*abc\r\n", True),
    ("multibulk length over INT_MAX", b"*3000000000\r\n", True),
    ("integer where bulk expected", b"*1\r\n:5\r\n", True),
    ("simple string where bulk expected", b"*2\r\n$3\r\nGET\r\n+k\r\n", True),
    ("unbalanced quotes inline", b'SET "a b\r\n', True),
    ("unbalanced single quote inline", b"SET 'a b\r\n", True),
    ("closing quote followed by char", b'SET "a"b c\r\n', True),
    ("too big inline request", b"a" * 70000, True),
    ("too big mbulk count string", b"*" + b"1" * 70000, True),
    ("too big bulk count string", b"*1\r\n$" + b"1" * 70000, True),
    ("garbage bytes as inline command", b"\x01\xfe\xff garbage\r\n", False),
    ("binary garbage with quotes escaped", b'"\\x00\\xff" x\r\n', False),
    ("empty inline lines then command", b"\r\n\r\n\n", False),
    ("negative multibulk count is ignored", b"*-1\r\n", False),
    ("zero multibulk count is ignored", b"*0\r\n", False),
    ("inline command", b"ECHO inline\r\n", False),
    ("inline with escapes", b'ECHO "a\\tb\\x41"\r\n', False),
    ("lf-only inline", b"ECHO lf\n", False),
    ("bulk length longer than data terminator", b"*2\r\n$4\r\nECHO\r\n$1\r\nab\r\n", False),
]


def outcome(ep, payload: bytes, closes: bool):
    """Send payload; return (first frame, what came after: close or the next PING reply)."""
    with Conn(ep.addr, timeout=5) as c:
        c.send(payload)
        if payload.strip(b"\r\n") in (b"", b"*-1", b"*0"):
            first = b"(no reply)"
        else:
            first = c.read_raw()
        if closes:
            try:
                rest = c.wait_closed(5.0)
            except TimeoutError:
                return first, b"(still open after 5s)"
            return first, b"(closed)" + rest
        c.send(cmd("PING"))
        return first, c.read_raw()


class Bystander:
    """Another client running commands on one long-lived connection throughout the test."""

    def __init__(self, ep, key):
        self.ep, self.key = ep, key
        self.errors: list = []
        self.ops = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.conn = Conn(self.ep.addr, timeout=5)
        self._round()
        self.thread.start()
        return self

    def _round(self):
        n = self.ops
        assert self.conn.call("SET", self.key, str(n)) == "OK"
        assert self.conn.call("GET", self.key) == str(n).encode()
        assert self.conn.call("PING") == "PONG"
        self.ops += 1

    def _run(self):
        end = time.monotonic() + 120
        for _ in range(1_000_000):
            if self.stop.is_set() or time.monotonic() > end:
                return
            try:
                self._round()
            except Exception as exc:  # noqa: BLE001
                self.errors.append(repr(exc))
                return

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        if not self.errors:
            self._round()
        self.conn.close()
        assert not self.errors, f"bystander client failed: {self.errors}"
        assert self.ops >= 2


@pytest.mark.parametrize("name,payload,closes", CASES, ids=[c[0] for c in CASES])
def test_bad_input_matches_redis_and_server_survives(proxy, redis, key, name, payload, closes):
    """The reply (and whether the connection closes) equals redis-server's; others keep working."""
    want = outcome(redis, payload, closes)
    with Bystander(proxy, key + "by"):
        got = outcome(proxy, payload, closes)
    assert got == want, f"{name}: redis {want!r} respite {got!r}"
    assert proxy.process is None or proxy.process.alive()


def test_truncated_frames_then_close_do_not_run_or_crash(proxy, key):
    """Half-sent commands followed by a close are never executed and do not hurt the server."""
    k = key + "trunc"
    partials = [cmd("SET", k, "value")[:-3], b"*3\r\n$3\r\nSET\r\n", b"*3\r\n$3\r\nSET\r\n$", b"*", b"SET " + k.encode(),
                cmd("SET", k, "v") + cmd("SET", k + "2", "w")[:7]]
    with Bystander(proxy, key + "by"):
        for p in partials:
            s = socket.create_connection(proxy.addr, timeout=5)
            s.sendall(p)
            s.close()
        with Conn(proxy.addr) as c:
            wait_until(lambda: c.call("EXISTS", k) == 1, 5, "the one complete SET")
            assert c.call("GET", k) == b"v"
            assert c.call("EXISTS", k + "2") == 0
            c.call("DEL", k)


def test_reset_by_peer_mid_reply_is_harmless(proxy, key):
    """A client that asks for a big reply and resets the connection does not disturb others."""
    k = key + "big"
    with Conn(proxy.addr) as c:
        c.call("SET", k, "x" * 2_000_000)
    with Bystander(proxy, key + "by"):
        for _ in range(20):
            s = socket.create_connection(proxy.addr, timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(cmd("GET", k) * 5)
            s.close()
    with Conn(proxy.addr) as c:
        assert c.call("STRLEN", k) == 2_000_000
        c.call("DEL", k)


@pytest.fixture
def locked(procs):
    t = make_target(procs, password="pw")
    ref = t.proxy if DIRECT else procs.redis(password="pw")
    return t.proxy, ref


@pytest.mark.parametrize("payload", [b"*1\r\n$100000\r\n", b"*100000\r\n", b"*2\r\n$3\r\nGET\r\n$20000\r\n"],
                         ids=["big-bulk", "big-multibulk", "big-second-bulk"])
def test_unauthenticated_large_request_gets_redis_error(locked, payload):
    """Unauthenticated clients announcing large requests get redis's 'unauthenticated' error and a close."""
    proxy, ref = locked
    want = outcome(ref, payload, True)
    got = outcome(proxy, payload, True)
    assert want[0].startswith(b"-ERR Protocol error: unauthenticated")
    assert got == want


def test_proto_max_bulk_len_refuses_big_values(procs, key):
    """With proto-max-bulk-len 1mb a value one byte over is refused with redis's bulk-length error."""
    limit = ("--proto-max-bulk-len", "1mb")
    t = make_target(procs, redis_args=limit if DIRECT else (), respite_args=limit)
    with Bystander(t.proxy, key + "by"):
        with Conn(t.proxy.addr) as c:
            assert c.call("SET", key + "small", "x" * (1024 * 1024)) == "OK"
            # Only the request's header: the server answers as soon as it reads the length and
            # closes, so a client still sending the body could see its send fail first.
            whole = cmd("SET", key + "large", "y" * (1024 * 1024 + 1))
            c.send(whole[:whole.index(b"$1048577\r\n") + len(b"$1048577\r\n")])
            err = c.read_raw()
            assert err == b"-ERR Protocol error: invalid bulk length\r\n", err
            assert c.wait_closed(5) == b""
    with Conn(t.redis.addr) as d:
        assert d.call("EXISTS", key + "large") == 0
        assert d.call("STRLEN", key + "small") == 1024 * 1024


@pytest.mark.respite_only
def test_client_that_never_reads_is_bounded(procs, key):
    """A client pipelining GETs of a 200 KB value without reading does not grow Respite without bound."""
    t = make_target(procs)
    k = key + "v"
    with Conn(t.redis.addr) as d:
        d.call("SET", k, "z" * 200_000)
    hog = socket.create_connection(t.proxy.addr)
    hog.setblocking(False)
    payload = cmd("GET", k) * 10_000  # 2 GB of replies if all were produced
    sent = 0
    limit_kb = 600 * 1024
    peak = 0
    slowest = 0.0
    try:
        with Conn(t.proxy.addr, timeout=5) as good:
            end = time.monotonic() + 6
            for i in range(100_000):
                if time.monotonic() > end:
                    break
                if sent < len(payload):
                    try:
                        sent += hog.send(payload[sent:sent + 65536])
                    except BlockingIOError:
                        pass
                    except OSError:
                        sent = len(payload)  # Respite closed the hog: acceptable
                peak = max(peak, t.respite.rss_kb())
                assert peak < limit_kb, f"respite RSS reached {peak} KB with a non-reading client"
                if i % 20 == 0:
                    started = time.monotonic()
                    try:
                        assert good.call("SET", key + "g", str(i)) == "OK"
                        assert good.call("GET", key + "g") == str(i).encode()
                    except (TimeoutError, EOFError) as exc:
                        raise AssertionError(f"bystander starved after hog sent {sent} bytes "
                                             f"(respite RSS {t.respite.rss_kb()} KB): {exc}") from exc
                    slowest = max(slowest, time.monotonic() - started)
            assert t.respite.alive()
    finally:
        hog.close()
    print(f"hog sent {sent} of {len(payload)} bytes; respite peak RSS {peak} KB; slowest bystander round {slowest:.3f}s")

"""Memory and connection bounds (#8): one client can never hurt another.

Every queue of a client is bounded (pending work, unread output per client class), every path
that opens an upstream connection respects its cap, `maxclients` is sized to the open-file
limit, and the admin endpoint bounds what a request may send. Each test runs its own Respite.
"""

import http.client
import os
import resource
import socket
import threading
import time

import pytest

from harness import Conn, cmd, wait_until

pytestmark = pytest.mark.respite_only

MB = 1024 * 1024


def rss_mb(proc) -> float:
    return proc.rss_kb() / 1024


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connected_clients(redis) -> int:
    with Conn(redis.addr) as c:
        info = c.call("INFO", "clients")
    for line in (info.decode() if isinstance(info, bytes) else str(info)).splitlines():
        if line.startswith("connected_clients:"):
            return int(line.split(":")[1])
    raise AssertionError(info)


def push_without_reading(sock: socket.socket, data: bytes, limit: int, seconds: float) -> int:
    """Writes `data` repeatedly without ever reading, until `limit` bytes went out or the peer
    stopped taking them for `seconds` in all. Returns the bytes written."""
    sock.setblocking(False)
    sent = 0
    end = time.monotonic() + seconds
    view = data
    while sent < limit and time.monotonic() < end:
        try:
            n = sock.send(view)
        except BlockingIOError:
            time.sleep(0.005)
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += n
        view = view[n:] or data
    sock.setblocking(True)
    return sent


def drain_until_closed(sock: socket.socket, seconds: float) -> bool:
    """Reads and discards until EOF; True when the peer closed within `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
        if not chunk:
            return True
    return False


def ping_time(proxy) -> float:
    with Conn(proxy.addr, timeout=5) as c:
        start = time.monotonic()
        assert c.call("PING") == "PONG"
        return time.monotonic() - start


# --- Item 7: a blocked client pipelining local commands -------------------------------------

def test_blocked_client_pipelining_local_commands_is_held_back(procs, key):
    """A client blocked in BLPOP that pipelines CLIENT INFO without reading stops being read
    (client-max-inflight replies wait behind the blocked one), instead of growing Respite
    without end; after it unblocks every reply arrives in order, and its memory goes back."""
    redis = procs.redis()
    proxy = procs.respite(redis.port)
    p = proxy.process
    base = rss_mb(p)
    blocked = Conn(proxy.addr, timeout=10)
    try:
        blocked.send_cmd("BLPOP", key + "q", 0)
        with Conn(redis.addr) as r:
            wait_until(lambda: "blocked_clients:1" in str(r.call("INFO", "clients")), 5, "BLPOP blocked upstream")
        one = cmd("CLIENT", "INFO")
        sent = push_without_reading(blocked.sock, one * 4096, 200 * MB, 4.0)
        grown = rss_mb(p) - base
        assert grown < 64, f"Respite grew {grown:.0f} MB while a blocked client pipelined {sent} bytes"
        assert sent < 100 * MB, f"Respite kept reading a blocked client's input ({sent} bytes taken)"
        assert ping_time(proxy) < 0.5, "another client waited"
        with Conn(proxy.addr) as other:
            assert other.call("LPUSH", key + "q", "v") == 1
        reply = blocked.read(timeout=10)
        assert reply == [key.encode() + b"q", b"v"], reply
        # Then the CLIENT INFO replies, in order: read a few.
        for _ in range(3):
            line = blocked.read(timeout=10)
            assert isinstance(line, bytes) and line.startswith(b"id="), line
    finally:
        blocked.close()
    wait_until(lambda: rss_mb(p) - base < 32, 10, "Respite's memory back near its baseline")


# --- Item 8: per-class output buffer limits -------------------------------------------------

def test_non_reading_normal_client_is_cut_at_its_hard_limit(procs, key):
    redis = procs.redis()
    proxy = procs.respite(redis.port, args=("--client-output-buffer-limit", "normal", "16mb", "0", "0"))
    p = proxy.process
    with Conn(proxy.addr) as c:
        assert c.call("SET", key, "x" * MB) == "OK"
    base = rss_mb(p)
    hog = Conn(proxy.addr, timeout=10)
    try:
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        push_without_reading(hog.sock, cmd("GET", key) * 200, 200 * len(cmd("GET", key)), 3.0)
        wait_until(lambda: "scheduled to be closed ASAP for overcoming of output buffer limits" in p.log(), 10,
                   "the normal client cut at its hard limit")
        assert drain_until_closed(hog.sock, 10), "the cut client's connection stays open"
    finally:
        hog.close()
    assert ping_time(proxy) < 0.5
    assert rss_mb(p) - base < 96, "Respite held the cut client's output"
    wait_until(lambda: rss_mb(p) - base < 32, 10, "Respite's memory back near its baseline")


def get_calls(redis) -> int:
    with Conn(redis.addr) as r:
        for line in r.call("INFO", "commandstats").decode().splitlines():
            if line.startswith("cmdstat_get:"):
                return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_big_reply_pipeline_is_not_queued_ahead_of_other_clients(procs, key):
    """A client pipelining 600 GETs of a 1 MB value without reading: Respite forwards only
    about client-output-high-water's worth of expected replies (32 requests before it has seen
    a reply, then by the average reply size), so 600 MB are never queued on the shared
    connection ahead of other clients; the client is served in full once it reads."""
    redis = procs.redis()
    proxy = procs.respite(redis.port)
    with Conn(proxy.addr) as c:
        assert c.call("SET", key, "x" * MB) == "OK"
    base = get_calls(redis)
    hog = Conn(proxy.addr, timeout=10)
    try:
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        request = cmd("GET", key)
        hog.sock.sendall(request * 600)
        # Settled: the count stops moving for a while (bounded polls).
        seen = []
        def settled():
            seen.append(get_calls(redis) - base)
            return len(seen) >= 10 and seen[-1] == seen[-10] and seen[-1] > 0
        wait_until(settled, 10, "the forwarded GETs to settle", interval=0.05)
        assert seen[-1] <= 48, f"{seen[-1]} of 600 big GETs forwarded while the client reads nothing"
        with Conn(proxy.addr) as other:
            assert other.call("INCR", key + ":n") == 1
        # Once it reads, every reply arrives, in order.
        for _ in range(600):
            assert len(hog.read(timeout=10)) == MB
        assert get_calls(redis) - base == 600
    finally:
        hog.close()


def test_non_reading_subscriber_is_cut_at_redis_pubsub_default(procs, key):
    """The default pubsub class limit is Redis's: 32mb hard."""
    redis = procs.redis()
    proxy = procs.respite(redis.port)
    p = proxy.process
    base = rss_mb(p)
    sub = Conn(proxy.addr, timeout=10)
    try:
        sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sub.send_cmd("SUBSCRIBE", key)
        assert sub.read() == [b"subscribe", key.encode(), 1]
        payload = "m" * (256 * 1024)
        published = 0
        with Conn(proxy.addr, timeout=10) as pub:
            for _ in range(600):  # 150 MB in all, far past 32mb
                n = pub.call("PUBLISH", key, payload)
                published += 1
                if n == 0:
                    break
            assert n == 0, "the subscriber was never cut"
            assert published < 600
        assert "scheduled to be closed ASAP for overcoming of output buffer limits" in p.log()
        assert "flags=P" in p.log()
        assert drain_until_closed(sub.sock, 10)
    finally:
        sub.close()
    assert ping_time(proxy) < 0.5
    wait_until(lambda: rss_mb(p) - base < 32, 10, "Respite's memory back near its baseline")


def test_output_buffer_limit_is_redis_syntax_per_class(procs):
    redis = procs.redis()
    proxy = procs.respite(redis.port, args=("--client-output-buffer-limit", "pubsub", "1mb", "512kb", "5",
                                            "replica", "64mb", "16mb", "30"))
    with Conn(proxy.addr) as c:
        assert c.call("PING") == "PONG"


# --- Item 9: upstream connections stay within their caps ------------------------------------

def test_pipelined_client_unblock_opens_few_upstream_connections(procs, key):
    redis = procs.redis()
    proxy = procs.respite(redis.port, args=("--upstream-pinned-max", "8", "--upstream-control-max", "4"))
    pid = proxy.process.pid
    blocked = Conn(proxy.addr, timeout=10)
    peak = {"fds": 0, "redis": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak["fds"] = max(peak["fds"], fd_count(pid))
            except OSError:
                pass
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    try:
        bid = blocked.call("CLIENT", "ID")
        base_fds = fd_count(pid)
        blocked.send_cmd("BLPOP", key, 0)
        with Conn(redis.addr) as r:
            wait_until(lambda: "blocked_clients:1" in str(r.call("INFO", "clients")), 5, "BLPOP blocked upstream")
        t.start()
        with Conn(proxy.addr, timeout=20) as c:
            c.send(cmd("CLIENT", "UNBLOCK", bid) * 3000)
            answers = [c.read() for _ in range(3000)]
            # As Redis answers the same pipeline: the first unblocks, the client is then no
            # longer blocked, so every later one answers 0.
            assert answers[0] == 1 and answers[1:] == [0] * 2999, {a: answers.count(a) for a in set(answers)}
            peak["redis"] = connected_clients(redis)
        assert blocked.read(timeout=10) is None
        stop.set()
        t.join(5)
        # The blocked client's own connection, at most 4 control connections, a shared one.
        assert peak["fds"] - base_fds <= 4 + 4, f"fds went from {base_fds} to {peak['fds']}"
        assert peak["redis"] <= 12, f"redis-server saw {peak['redis']} clients"
    finally:
        stop.set()
        blocked.close()


def test_script_kill_burst_waits_for_control_connections(procs):
    """SCRIPT KILL from many clients at once: each gets Redis's answer, on at most
    upstream-control-max connections at a time."""
    redis = procs.redis()
    proxy = procs.respite(redis.port, args=("--upstream-control-max", "2"))
    pid = proxy.process.pid
    base_fds = fd_count(pid)
    conns = [Conn(proxy.addr, timeout=10) for _ in range(40)]
    try:
        for c in conns:
            c.send_cmd("SCRIPT", "KILL")
        peak = fd_count(pid)
        for c in conns:
            r = c.read()
            assert str(r).startswith("NOTBUSY"), r
            peak = max(peak, fd_count(pid))
        assert peak - base_fds <= 40 + 2 + 2, f"fds went from {base_fds} to {peak}"
    finally:
        for c in conns:
            c.close()


# --- Item 10: maxclients sized to the open-file limit ---------------------------------------

def test_maxclients_fits_a_low_open_file_limit(procs):
    redis = procs.redis()

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    proxy = procs.respite(redis.port, args=("--upstream-pinned-max", "4", "--upstream-control-max", "2"),
                          preexec=low_limit)
    p = proxy.process
    held = []
    refused = 0
    try:
        for _ in range(140):  # past the 128 files the process may open
            c = Conn(proxy.addr, timeout=2)
            try:
                r = c.call("PING")
            except socket.timeout:
                c.close()
                raise AssertionError(f"client {len(held) + refused + 1} hung (nothing accepted it)")
            if r == "PONG":
                held.append(c)
            else:
                assert str(r) == "ERR max number of clients reached", r
                refused += 1
                c.close()
        assert refused > 0 and len(held) < 128
        # Nothing spins: Respite's CPU over a second stays low, and a held client is prompt.
        before = cpu_seconds(p.pid)
        time.sleep(1.0)
        assert cpu_seconds(p.pid) - before < 0.3
        start = time.monotonic()
        assert held[0].call("PING") == "PONG"
        assert time.monotonic() - start < 0.5
        # Every held client still gets its own dedicated connection where it needs one.
        assert held[1].call("MULTI") == "OK"
        assert held[1].call("EXEC") == []
        assert "maxclients has been reduced" in p.log()
    finally:
        for c in held:
            c.close()


# --- Item 11: the admin endpoint's request limits -------------------------------------------

def test_admin_endpoint_refuses_a_large_body(procs):
    from harness import free_port
    redis = procs.redis()
    admin = free_port()
    proxy = procs.respite(redis.port, args=("--admin-port", str(admin), "--admin-max-body-size", "64kb"))
    p = proxy.process
    base = rss_mb(p)
    conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    try:
        body = b"x" * (8 * MB)
        try:
            conn.request("POST", "/healthz", body=body)
            status = conn.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413
        assert status == 413
    finally:
        conn.close()
    assert rss_mb(p) - base < 8
    conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()

"""The process lifecycle: the sd_notify datagrams Respite sends to a real NOTIFY_SOCKET
listener (READY=1 once it accepts connections and the upstream answers, STATUS=, STOPPING=1
at SIGTERM, WATCHDOG=1 every half of WATCHDOG_USEC), the SIGTERM drain (listeners closed at
once, idle clients closed, requests in flight answered, pinned sessions waited for up to
`shutdown-timeout`, exit 0), a second SIGTERM ending the drain at once, SIGHUP leaving the
process serving, and `systemd-analyze verify` on the unit file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from harness import REPO, RESPITE_BIN, Conn, cmd, free_port, wait_until

pytestmark = pytest.mark.respite_only

# A script that keeps the server busy for ARGV[1] microseconds, then returns "done".
BUSY_SCRIPT = (
    "local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] "
    "while true do local n = redis.call('TIME') "
    "if n[1] * 1000000 + n[2] - t0 > tonumber(ARGV[1]) then break end end "
    "return 'done'"
)


class NotifyListener:
    """A unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, directory: str, abstract: bool = False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"respite-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = os.path.join(directory, "notify.sock")
            self.sock.bind(path)
            self.address = path
        self.messages: list[str] = []

    def close(self):
        self.sock.close()

    def _drain(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        self.messages.append(data.decode())
        self.sock.settimeout(0)
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except (BlockingIOError, socket.timeout):
                return

    def wait_for(self, predicate, deadline: float, what: str) -> str:
        """The first message (from now on, or already received) for which predicate holds."""
        end = time.monotonic() + deadline
        seen = 0
        while True:
            for m in self.messages[seen:]:
                if predicate(m):
                    return m
            seen = len(self.messages)
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no notification with {what} within {deadline}s; got {self.messages!r}")
            self._drain(min(remaining, 0.5))

    def assignments(self, message: str) -> dict:
        return dict(line.split("=", 1) for line in message.split("\n") if "=" in line)


def has(key: str, value: str | None = None):
    def check(m: str) -> bool:
        for line in m.split("\n"):
            k, _, v = line.partition("=")
            if k == key and (value is None or v == value):
                return True
        return False
    return check


def wait_exit(proc, deadline: float) -> int:
    try:
        return proc.popen.wait(deadline)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"respite still running {deadline}s after the signal; log:\n{proc.log_tail()}")


def wait_log(proc, text: str, deadline: float = 5.0) -> None:
    wait_until(lambda: text in proc.log(), deadline, f"log line {text!r}")


def client_id(conn: Conn) -> int:
    return int(conn.call("CLIENT", "ID"))


def client_list(admin: Conn) -> list[str]:
    return admin.call("CLIENT", "LIST").decode().strip().split("\n")


def client_line(admin: Conn, cid: int) -> str:
    for line in client_list(admin):
        if line.startswith(f"id={cid} "):
            return line
    return ""


# ---------------------------------------------------------------------------
# sd_notify
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_after_listening_then_status_and_stopping(procs, abstract):
    r = procs.redis()
    listener = NotifyListener(procs.dir, abstract=abstract)
    try:
        p = procs.respite(r.port, wait="none", env={"NOTIFY_SOCKET": listener.address})
        ready = listener.wait_for(has("READY", "1"), 10.0, "READY=1")
        # READY=1 means it accepts connections now: one connect, no retry.
        with p.conn(timeout=2.0) as c:
            assert c.call("PING") == "PONG"
        status = listener.assignments(ready).get("STATUS", "")
        assert status.startswith("ready: "), ready
        assert f"upstream 127.0.0.1:{r.port}" in status, ready

        # STATUS follows the client count.
        with p.conn() as c1, p.conn() as c2:
            c1.call("PING"), c2.call("PING")
            listener.wait_for(has("STATUS", f"ready: 2 clients, upstream 127.0.0.1:{r.port}"), 5.0, "STATUS with 2 clients")

        p.process.popen.send_signal(signal.SIGTERM)
        stopping = listener.wait_for(has("STOPPING", "1"), 5.0, "STOPPING=1")
        assert listener.assignments(stopping).get("STATUS", "").startswith("draining: "), stopping
        assert wait_exit(p.process, 5.0) == 0
    finally:
        listener.close()


def test_watchdog_pings_at_half_the_interval(procs):
    r = procs.redis()
    listener = NotifyListener(procs.dir)
    try:
        p = procs.respite(r.port, wait="none", env={"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "400000"})
        listener.wait_for(has("READY", "1"), 10.0, "READY=1")
        ready_at = time.monotonic()

        def pings():
            listener._drain(0.1)
            return sum(has("WATCHDOG", "1")(m) for m in listener.messages)
        wait_until(lambda: pings() >= 4, 5.0, "4 WATCHDOG=1 pings")
        elapsed = time.monotonic() - ready_at
        # Pings every 200 ms (half of 400 ms): the fourth comes about 0.8 s after start.
        assert 0.5 <= elapsed < 3.0, f"4 pings {elapsed:.3f}s after READY=1: not every 200 ms"
        p.process.popen.send_signal(signal.SIGTERM)
        assert wait_exit(p.process, 5.0) == 0
    finally:
        listener.close()


def test_ready_waits_for_an_upstream_that_is_down_at_start(procs):
    port = free_port()
    listener = NotifyListener(procs.dir)
    try:
        p = procs.respite(port, wait="connect", env={"NOTIFY_SOCKET": listener.address},
                          args=("--upstream-reconnect-max", "200ms"))
        listener.wait_for(has("STATUS"), 5.0, "a STATUS line")
        assert not any(has("READY")(m) for m in listener.messages), listener.messages
        assert listener.messages[0].startswith("STATUS=starting: waiting for upstream"), listener.messages
        procs.redis(port=port)
        ready = listener.wait_for(has("READY", "1"), 10.0, "READY=1 once the upstream is up")
        assert listener.assignments(ready)["STATUS"].startswith("ready: "), ready
    finally:
        listener.close()


# ---------------------------------------------------------------------------
# The drain
# ---------------------------------------------------------------------------

def test_sigterm_drains_in_flight_work_and_times_out_a_blocked_client(procs):
    r = procs.redis()
    p = procs.respite(r.port, args=("--shutdown-timeout", "2"))
    keys = [f"drain:{i}" for i in range(200)]
    with r.conn() as direct:
        for k in keys:
            direct.call("SET", k, f"v{k}")

    block = p.conn(timeout=10.0)
    script = p.conn(timeout=10.0)
    batch = p.conn(timeout=10.0)
    idle = p.conn(timeout=10.0)
    ids = {name: client_id(c) for name, c in (("block", block), ("script", script), ("batch", batch))}

    block.send_cmd("BLPOP", "drain:list", "0")
    with r.conn() as direct:
        wait_until(lambda: any("cmd=blpop" in line for line in client_list(direct)), 5.0, "BLPOP blocked upstream")
    # Two scripts keep the server busy for 1.3 s in all, well inside the 2 s shutdown-timeout:
    # the script client's, and one at the head of the batch, so that the batch's GETs are
    # certainly in flight (their replies come after that script's) when SIGTERM arrives.
    script.send_cmd("EVAL", BUSY_SCRIPT, "0", "800000")
    wait_until(lambda: "cmd=eval" in client_line(idle, ids["script"]), 5.0, "the script sent")
    batch.send(cmd("EVAL", BUSY_SCRIPT, "0", "500000")
               + b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k.encode()) for k in keys))
    wait_until(lambda: "cmd=get" in client_line(idle, ids["batch"]), 5.0, "the batch read")
    assert len(client_list(idle)) == 4

    t0 = time.monotonic()
    p.process.popen.send_signal(signal.SIGTERM)

    # Once the drain has begun (a connection racing the signal counts as an idle client), new
    # connections are refused, while the script still runs.
    wait_log(p.process, "Received SIGTERM: draining", deadline=1.0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(p.addr, timeout=0.5).close()
    # The idle client is closed right away.
    idle.wait_closed(deadline=1.0)
    assert time.monotonic() - t0 < 1.2

    # The script's client gets its reply, then is closed.
    assert script.read() == b"done"
    script.wait_closed(deadline=2.0)
    # The pipelined batch completes in full.
    assert batch.read() == b"done"
    replies = [batch.read() for _ in keys]
    assert replies == [f"v{k}".encode() for k in keys]
    batch.wait_closed(deadline=2.0)

    # The blocked client is ended by the shutdown timeout, and the process exits 0.
    block.wait_closed(deadline=5.0)
    ended = time.monotonic() - t0
    assert 1.5 <= ended < 4.0, f"BLPOP client ended {ended:.2f}s after SIGTERM (shutdown-timeout 2)"
    assert wait_exit(p.process, 3.0) == 0
    log = p.process.log()
    assert "Received SIGTERM: draining. Not accepting connections; closed 1 idle clients; " \
           "waiting up to 2s (shutdown-timeout) for 3 (2 busy, 1 pinned)" in log, log
    assert "Drain timed out (shutdown-timeout): closed 1 clients still connected (1 pinned, 0 busy)" in log, log
    for c in (block, script, batch, idle):
        c.close()
    # The upstream saw the blocked client go.
    with r.conn() as direct:
        wait_until(lambda: not any("cmd=blpop" in line for line in client_list(direct)), 5.0, "BLPOP gone upstream")


def test_pinned_sessions_that_end_on_their_own_finish_the_drain(procs):
    r = procs.redis()
    p = procs.respite(r.port, args=("--shutdown-timeout", "30"))
    multi = p.conn()
    sub = p.conn()
    assert multi.call("MULTI") == "OK"
    assert multi.call("SET", "drain:m", "1") == "QUEUED"
    assert sub.call("SUBSCRIBE", "drain:ch")[0] == b"subscribe"

    t0 = time.monotonic()
    p.process.popen.send_signal(signal.SIGTERM)
    wait_log(p.process, "waiting up to 30s (shutdown-timeout) for 2 (0 busy, 2 pinned)")
    assert multi.call("EXEC") == ["OK"]
    multi.wait_closed(deadline=2.0)
    assert p.process.alive(), "the subscriber is still connected"
    assert sub.call("UNSUBSCRIBE", "drain:ch")[0] == b"unsubscribe"
    sub.wait_closed(deadline=2.0)
    assert wait_exit(p.process, 3.0) == 0
    assert time.monotonic() - t0 < 10.0
    assert "Drain complete in " in p.process.log()
    with r.conn() as direct:
        assert direct.call("GET", "drain:m") == b"1"
    multi.close(), sub.close()


def test_second_sigterm_during_the_drain_exits_at_once(procs):
    r = procs.redis()
    p = procs.respite(r.port, args=("--shutdown-timeout", "60"))
    block = p.conn()
    block.send_cmd("BLPOP", "drain:list2", "0")
    with r.conn() as direct:
        wait_until(lambda: any("cmd=blpop" in line for line in client_list(direct)), 5.0, "BLPOP blocked upstream")
    p.process.popen.send_signal(signal.SIGTERM)
    wait_log(p.process, "Received SIGTERM: draining")
    assert p.process.alive()
    t0 = time.monotonic()
    p.process.popen.send_signal(signal.SIGINT)
    assert wait_exit(p.process, 2.0) == 0
    assert time.monotonic() - t0 < 2.0
    block.wait_closed(deadline=1.0)
    assert "Received SIGINT during the drain: exiting now, closing 1 clients" in p.process.log()
    block.close()


# ---------------------------------------------------------------------------
# SIGHUP
# ---------------------------------------------------------------------------

def test_sighup_is_logged_and_the_process_keeps_serving(procs):
    r = procs.redis()
    p = procs.respite(r.port)
    with p.conn() as c:
        assert c.call("SET", "hup:k", "v") == "OK"
        p.process.popen.send_signal(signal.SIGHUP)
        wait_log(p.process, "Received SIGHUP: configuration reload is not supported yet; configuration unchanged")
        assert p.process.alive()
        assert c.call("GET", "hup:k") == b"v"
        with p.conn() as fresh:
            assert fresh.call("PING") == "PONG"
    # Twice is no different.
    p.process.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: p.process.log().count("Received SIGHUP") == 2, 5.0, "second SIGHUP logged")
    with p.conn() as c:
        assert c.call("PING") == "PONG"


# ---------------------------------------------------------------------------
# The unit file
# ---------------------------------------------------------------------------

def test_systemd_unit_verifies(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package 'systemd'; scripts/deps.sh installs it)")
    unit = open(os.path.join(REPO, "systemd", "respite.service")).read()
    assert "Type=notify" in unit
    # Verified as installed, with ExecStart pointing at the binary under test (the install
    # path does not exist here, and verify checks that it is executable).
    assert "ExecStart=/usr/local/bin/respite " in unit
    local = tmp_path / "respite.service"
    local.write_text(unit.replace("/usr/local/bin/respite", os.path.abspath(RESPITE_BIN)))
    out = subprocess.run([tool, "verify", str(local)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), f"rc={out.returncode}\n{out.stdout}\n{out.stderr}"

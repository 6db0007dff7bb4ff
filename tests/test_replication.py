"""Replication through Respite: `redis-cli --rdb` and `redis-cli --replica` (SYNC/PSYNC and the
REPLCONF preamble) get a raw relay to a dedicated upstream connection, so a sidecar user can
take a backup without bypassing the proxy."""

import os
import shutil
import subprocess
import tempfile

import pytest

from harness import Conn, wait_until

REDIS_CLI = shutil.which("redis-cli")
CHECK_RDB = shutil.which("redis-check-rdb")

pytestmark = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli not installed")


def test_redis_cli_rdb_through_respite_writes_a_valid_rdb(proxy, key):
    """`redis-cli --rdb` through Respite saves an RDB that starts with REDIS and that
    redis-check-rdb accepts, holding a key written through Respite."""
    with Conn(proxy.addr) as c:
        assert c.call("SET", key, "backed-up") == "OK"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "dump.rdb")
        r = subprocess.run([REDIS_CLI, "-h", proxy.host, "-p", str(proxy.port), "--rdb", path],
                           capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr + r.stdout
        data = open(path, "rb").read()
        assert data.startswith(b"REDIS"), data[:32]
        assert key.encode() in data
        if CHECK_RDB:
            chk = subprocess.run([CHECK_RDB, path], capture_output=True, timeout=30)
            assert chk.returncode == 0, chk.stdout + chk.stderr
    # The proxy goes on serving other clients.
    with Conn(proxy.addr) as c:
        assert c.call("GET", key) == b"backed-up"


@pytest.mark.respite_only
def test_redis_cli_rdb_through_respite_to_an_upstream_given_by_name(procs, key):
    """With `--upstream localhost:PORT`, the relay's socket is dialed like the pool's (the name
    looked up on the loop, then each address): `redis-cli --rdb` still gets the server's RDB."""
    r = procs.redis()
    proxy = procs.respite(r.port, args=("--upstream", f"localhost:{r.port}"))
    with Conn(proxy.addr) as c:
        assert c.call("SET", key, "by-name") == "OK"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "dump.rdb")
        out = subprocess.run([REDIS_CLI, "-h", proxy.host, "-p", str(proxy.port), "--rdb", path],
                             capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr + out.stdout
        data = open(path, "rb").read()
        assert data.startswith(b"REDIS") and key.encode() in data, data[:32]


def test_redis_cli_replica_through_respite_sees_writes(proxy, key):
    """`redis-cli --replica` through Respite receives a SET another client makes through it."""
    # stdbuf: redis-cli's stdout is a pipe here; line buffering lets the test see each line.
    argv = ([shutil.which("stdbuf"), "-oL"] if shutil.which("stdbuf") else []) + [REDIS_CLI, "-h", proxy.host, "-p", str(proxy.port), "--replica"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        os.set_blocking(p.stdout.fileno(), False)
        seen = bytearray()

        def read_more(marker):
            chunk = p.stdout.read()
            if chunk:
                seen.extend(chunk)
            if p.poll() is not None:
                raise AssertionError(f"redis-cli exited: {bytes(seen)!r}")
            return marker in seen

        # Redis 7 syncs diskless after repl-diskless-sync-delay (5 s by default).
        wait_until(lambda: read_more(b"Logging commands from master"), 30, "redis-cli --replica to finish its sync")
        with Conn(proxy.addr) as c:
            # Written until seen: the replica may attach a moment after its sync message.
            marker = key.encode()

            def written_and_seen():
                c.call("SET", key, "replicated")
                return read_more(marker)

            wait_until(written_and_seen, 15, "the SET to reach redis-cli --replica", interval=0.1)
        assert b'"replicated"' in seen
        with Conn(proxy.addr) as c:
            clients = c.call("CLIENT", "LIST", "TYPE", "replica").decode()
            assert "flags=S" in clients
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_replconf_answers_like_redis_then_the_session_relays(proxy, redis):
    """A REPLCONF preamble gets the server's own replies, byte for byte."""
    with Conn(proxy.addr) as c, Conn(redis.addr) as d:
        for args in (("REPLCONF", "capa", "eof"), ("REPLCONF", "bogus", "x")):
            assert c.call_raw(*args) == d.call_raw(*args)

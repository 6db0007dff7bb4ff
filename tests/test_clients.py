"""Real clients as black boxes through Respite: redis-cli (RESP2 and -3), redis-py
(protocol 2 and 3), big pipelines, 10 MB values, 1,000 concurrent connections, unix socket."""

import os
import selectors
import socket
import subprocess
import time

import pytest
import redis as redispy

from harness import Conn, cmd, parse_frame, Incomplete

REDIS_CLI = "redis-cli"


def cli(ep, *args, proto=2, stdin=None, timeout=30):
    argv = [REDIS_CLI, "-h", ep.host, "-p", str(ep.port)]
    if proto == 3:
        argv.append("-3")
    argv += list(args)
    out = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    return out.returncode, out.stdout, out.stderr


CLI_SCRIPT = """SET {k}s hello
GET {k}s
GET {k}missing
INCRBYFLOAT {k}f 1.5
HSET {k}h a 1 b 2
HGETALL {k}h
ZADD {k}z 1 one 2.5 two
ZRANGE {k}z 0 -1 WITHSCORES
ZSCORE {k}z two
RPUSH {k}l x y z
LRANGE {k}l 0 -1
SADD {k}set 3 1 2
SMEMBERS {k}set
XADD {k}x 1-1 f v
XRANGE {k}x - +
EVAL "return {{1, 'a', false, true}}" 0
CONFIG GET maxmemory
GET {k}h
NOSUCHCOMMAND
MULTI
INCR {k}n
GET {k}n
EXEC
DEL {k}s {k}f {k}h {k}z {k}l {k}set {k}x {k}n
"""


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_cli_formatted_output_matches_redis(proxy, redis, key, proto):
    """redis-cli --no-raw (RESP2 and -3) prints the same for Respite as for redis."""
    script = CLI_SCRIPT.format(k=key).encode()
    want = cli(redis, "--no-raw", proto=proto, stdin=script)
    got = cli(proxy, "--no-raw", proto=proto, stdin=script)
    assert want[0] == 0
    assert got[1].decode() == want[1].decode()
    assert got[0] == 0


def test_redis_cli_one_shot_commands(proxy, key):
    """redis-cli -p P SET/GET/INCR as separate invocations."""
    assert cli(proxy, "SET", key + "a", "v 1")[1] == b"OK\n"
    assert cli(proxy, "GET", key + "a")[1] == b"v 1\n"
    assert cli(proxy, "INCR", key + "n")[1] == b"1\n"
    assert cli(proxy, "-3", "HELLO", "3")[0] == 0
    assert cli(proxy, "DEL", key + "a", key + "n")[1] == b"2\n"


def test_redis_cli_pipe_mode_10000_commands(proxy, key):
    """redis-cli --pipe with 10,000 commands reports 0 errors and every reply."""
    data = b"".join(cmd("SET", f"{key}{i}", str(i)) for i in range(10_000))
    code, out, err = cli(proxy, "--pipe", stdin=data, timeout=60)
    assert code == 0, (out, err)
    assert b"errors: 0, replies: 10000" in out, out
    r = redispy.Redis(host=proxy.host, port=proxy.port)
    assert r.get(f"{key}9999") == b"9999"
    r.delete(*[f"{key}{i}" for i in range(10_000)])


def test_redis_cli_over_unix_socket(proxy, key):
    """redis-cli -s PATH reaches the server over the unix socket."""
    assert proxy.unixsocket and os.path.exists(proxy.unixsocket)
    out = subprocess.run([REDIS_CLI, "-s", proxy.unixsocket, "SET", key + "u", "sock"], capture_output=True, timeout=10)
    assert out.stdout == b"OK\n"
    out = subprocess.run([REDIS_CLI, "-s", proxy.unixsocket, "GETDEL", key + "u"], capture_output=True, timeout=10)
    assert out.stdout == b"sock\n"


def client(ep, proto, **kw):
    return redispy.Redis(host=ep.host, port=ep.port, protocol=proto, socket_timeout=30, **kw)


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_basic_commands(proxy, key, proto):
    """redis-py basic types round-trip (protocol 2 and 3)."""
    r = client(proxy, proto)
    try:
        assert r.ping() is True
        assert r.set(key + "s", "v") is True
        assert r.get(key + "s") == b"v"
        assert r.incrbyfloat(key + "f", 1.25) == 1.25
        assert r.hset(key + "h", mapping={"a": "1", "b": "2"}) == 2
        assert r.hgetall(key + "h") == {b"a": b"1", b"b": b"2"}
        assert r.zadd(key + "z", {"m": 1.5, "n": 3}) == 2
        assert [tuple(x) for x in r.zrange(key + "z", 0, -1, withscores=True)] == [(b"m", 1.5), (b"n", 3.0)]
        assert r.zscore(key + "z", "n") == 3.0
        assert r.smembers(key + "missing") == set()
        assert r.get(key + "missing") is None
        assert r.xadd(key + "x", {"f": "v"}, id="1-1") == b"1-1"
        assert r.xread({key + "x": "0"}) in ([[key.encode() + b"x", [(b"1-1", {b"f": b"v"})]]],
                                              {key.encode() + b"x": [[(b"1-1", {b"f": b"v"})]]})
        assert r.client_setname("py") is True
        assert r.client_getname() in ("py", b"py")
        with pytest.raises(redispy.ResponseError, match="WRONGTYPE"):
            r.lpush(key + "s", "x")
        assert r.delete(key + "s", key + "f", key + "h", key + "z", key + "x") == 5
    finally:
        r.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_pipeline_10000(proxy, key, proto):
    """A 10,000-command redis-py pipeline returns every reply in order."""
    r = client(proxy, proto)
    try:
        p = r.pipeline(transaction=False)
        for i in range(5_000):
            p.set(f"{key}{i}", i)
            p.get(f"{key}{i}")
        out = p.execute()
        assert len(out) == 10_000
        assert out[0::2] == [True] * 5_000
        assert out[1::2] == [str(i).encode() for i in range(5_000)]
        r.delete(*[f"{key}{i}" for i in range(5_000)])
    finally:
        r.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_transaction_and_watch(proxy, key, proto):
    """redis-py transaction() with WATCH retries until it commits."""
    r = client(proxy, proto)
    try:
        r.set(key + "c", 0)

        def incr(pipe):
            v = int(pipe.get(key + "c"))
            pipe.multi()
            pipe.set(key + "c", v + 1)

        for _ in range(20):
            r.transaction(incr, key + "c")
        assert r.get(key + "c") == b"20"
        r.delete(key + "c")
    finally:
        r.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_pubsub(proxy, key, proto):
    """redis-py PubSub receives a published message."""
    r = client(proxy, proto)
    ps = r.pubsub()
    try:
        ps.subscribe(key + "ch")
        first = ps.get_message(timeout=5)
        assert first and first["type"] == "subscribe"
        assert r.publish(key + "ch", "hi") == 1
        msg = None
        end = time.monotonic() + 5
        while msg is None and time.monotonic() < end:
            msg = ps.get_message(timeout=1)
        assert msg and msg["data"] == b"hi"
    finally:
        ps.close()
        r.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_ten_megabyte_value_roundtrip(proxy, key, proto):
    """A 10 MB value set and read back intact."""
    r = client(proxy, proto)
    try:
        value = os.urandom(5 * 1024 * 1024).hex().encode()
        assert r.set(key + "big", value) is True
        assert r.get(key + "big") == value
        assert r.strlen(key + "big") == len(value)
        r.delete(key + "big")
    finally:
        r.close()


def test_ten_megabyte_values_through_a_pipeline(proxy, key):
    """Three 10 MB values written and read back in one pipeline, interleaved with small commands."""
    r = client(proxy, 2)
    try:
        values = [bytes([65 + i]) * (10 * 1024 * 1024) for i in range(3)]
        p = r.pipeline(transaction=False)
        for i, v in enumerate(values):
            p.set(f"{key}{i}", v)
            p.ping()
        for i in range(3):
            p.get(f"{key}{i}")
            p.incr(key + "n")
        out = p.execute()
        assert out[:6] == [True, True] * 3
        assert out[6::2] == values
        assert out[7::2] == [1, 2, 3]
        r.delete(*[f"{key}{i}" for i in range(3)], key + "n")
    finally:
        r.close()


def test_raw_10mb_set_get_exact_bytes(proxy, key):
    """A 10 MB bulk written in many small chunks is stored exactly and returned as one frame."""
    v = b"".join(bytes([i % 251]) for i in range(256)) * 40960
    with Conn(proxy.addr, timeout=30) as c:
        data = cmd("SET", key + "raw", v)
        for off in range(0, len(data), 7919):
            c.send(data[off:off + 7919])
        assert c.read_raw() == b"+OK\r\n"
        assert c.call_raw("GET", key + "raw") == b"$%d\r\n%s\r\n" % (len(v), v)
        c.call("DEL", key + "raw")


def test_thousand_concurrent_connections(proxy, key):
    """1,000 connections at once, each pipelining SET/INCR/GET, all answered correctly."""
    n = 1000
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for i in range(n):
            s = socket.create_connection(proxy.addr, timeout=10)
            s.setblocking(False)
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(cmd("SET", f"{key}{i}", f"val{i}") + cmd("INCR", key + "counter") + cmd("GET", f"{key}{i}"))
        bufs = {i: b"" for i in range(n)}
        done = {}
        for i, s in enumerate(socks):
            sel.register(s, selectors.EVENT_READ, i)
        end = time.monotonic() + 30
        while len(done) < n and time.monotonic() < end:
            for sk, _ in sel.select(timeout=1):
                i = sk.data
                chunk = sk.fileobj.recv(65536)
                if not chunk:
                    done[i] = ("closed", bufs[i])
                    sel.unregister(sk.fileobj)
                    continue
                bufs[i] += chunk
                frames, pos = [], 0
                try:
                    for _ in range(3):
                        v, pos = parse_frame(bufs[i], pos)
                        frames.append(v)
                except Incomplete:
                    continue
                done[i] = frames
                sel.unregister(sk.fileobj)
        assert len(done) == n, f"only {len(done)} of {n} connections answered within 30s"
        bad = [(i, f) for i, f in done.items() if not (isinstance(f, list) and f[0] == "OK" and isinstance(f[1], int)
                                                         and f[2] == f"val{i}".encode())]
        assert not bad, bad[:5]
        assert sorted(f[1] for f in done.values()) == list(range(1, n + 1))
    finally:
        sel.close()
        for s in socks:
            s.close()
    r = client(proxy, 2)
    r.delete(*[f"{key}{i}" for i in range(n)], key + "counter")
    r.close()


@pytest.mark.parametrize("proto", [2, 3])
def test_redis_py_over_unix_socket(proxy, key, proto):
    """redis-py over the unix socket, including a pipeline."""
    r = redispy.Redis(unix_socket_path=proxy.unixsocket, protocol=proto, socket_timeout=10)
    try:
        assert r.set(key + "u", "x") is True
        p = r.pipeline(transaction=False)
        for i in range(100):
            p.incr(key + "n")
        assert p.execute() == list(range(1, 101))
        assert r.delete(key + "u", key + "n") == 2
    finally:
        r.close()

"""A broad, deterministic command corpus sent to redis-server directly and through
Respite, in RESP2 and in RESP3, comparing every reply byte for byte."""

import pytest

from harness import Conn, cmd, hello3

SEED = [
    ("SET", "s:str", "hello world"),
    ("SET", "s:int", "42"),
    ("SET", "s:float", "3.5"),
    ("SET", "s:lcs1", "ohmytext"),
    ("SET", "s:lcs2", "mynewtext"),
    ("RPUSH", "l:list", "a", "b", "c", "d", "e", "c"),
    ("HSET", "h:hash", "f1", "v1", "f2", "v2", "n", "10"),
    ("SADD", "i:set", "1", "2", "3", "5", "8"),
    ("SADD", "i:set2", "2", "3", "4"),
    ("SADD", "s:one", "only"),
    ("ZADD", "z:zset", "1", "one", "2", "two", "3", "three", "2.5", "twohalf"),
    ("ZADD", "z:zset2", "10", "one", "20", "four"),
    ("XADD", "x:stream", "1-1", "f", "v1"),
    ("XADD", "x:stream", "2-1", "f", "v2", "g", "w"),
    ("XADD", "x:stream", "3-0", "f", "v3"),
    ("XGROUP", "CREATE", "x:stream", "grp", "0"),
    ("GEOADD", "g:geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("SETBIT", "b:bits", "7", "1"),
    ("SETBIT", "b:bits", "100", "1"),
    ("PFADD", "p:hll", "a", "b", "c", "d"),
    ("SET", "k:ttl", "v", "EX", "1000"),
    ("SET", "k:expat", "v"),
    ("EXPIREAT", "k:expat", "4000000000"),
]

LUA_HGETALL3 = "redis.setresp(3); return redis.call('HGETALL', KEYS[1])"

CORPUS = [
    # connection / server
    ("PING",), ("PING", "hi"), ("ECHO", b"bin\x00\xff\r\nary"),
    ("CLIENT", "GETNAME"),
    ("CONFIG", "GET", "maxmemory"), ("CONFIG", "GET", "hash-max-listpack-*"),
    ("CONFIG", "GET", "nonexistent-param"),
    ("COMMAND", "INFO", "get", "set", "nosuchcommand"), ("COMMAND", "GETKEYS", "SET", "a", "b"),
    ("COMMAND", "DOCS", "get"),
    ("DBSIZE",), ("WAIT", "0", "0"),
    # strings
    ("GET", "s:str"), ("GET", "missing"), ("SET", "s:new", "v"), ("SET", "s:new", "w", "NX"),
    ("SET", "s:new", "x", "XX", "GET"), ("SET", "s:none", "x", "GET"), ("APPEND", "s:str", "!"),
    ("STRLEN", "s:str"), ("GETRANGE", "s:str", "0", "4"), ("SETRANGE", "s:str", "0", "J"),
    ("INCR", "s:int"), ("DECRBY", "s:int", "50"), ("INCRBYFLOAT", "s:float", "0.25"),
    ("INCRBYFLOAT", "s:float", "1e3"), ("MSET", "m1", "1", "m2", "2"), ("MGET", "m1", "missing", "m2"),
    ("MSETNX", "m1", "x", "m3", "y"), ("SETNX", "m4", "z"), ("GETSET", "m4", "zz"), ("GETDEL", "m4"),
    ("GETDEL", "m4"), ("GETEX", "m1", "PERSIST"), ("LCS", "s:lcs1", "s:lcs2"),
    ("LCS", "s:lcs1", "s:lcs2", "LEN"), ("LCS", "s:lcs1", "s:lcs2", "IDX", "MINMATCHLEN", "2", "WITHMATCHLEN"),
    ("SUBSTR", "s:str", "0", "2"),
    # lists
    ("LRANGE", "l:list", "0", "-1"), ("LINDEX", "l:list", "1"), ("LINDEX", "l:list", "99"),
    ("LLEN", "l:list"), ("LPOS", "l:list", "c"), ("LPOS", "l:list", "c", "COUNT", "0"),
    ("LPOS", "l:list", "zz"), ("LINSERT", "l:list", "BEFORE", "b", "ab"), ("LSET", "l:list", "0", "A"),
    ("LPUSH", "l:new", "1", "2", "3"), ("LPOP", "l:new"), ("RPOP", "l:new", "5"), ("RPOP", "l:new", "5"),
    ("LPOP", "missing", "2"), ("LPOP", "missing"), ("RPUSH", "l:m", "x", "y"),
    ("LMOVE", "l:m", "l:m2", "LEFT", "RIGHT"), ("RPOPLPUSH", "l:m", "l:m2"), ("RPOPLPUSH", "l:m", "l:m2"),
    ("LMPOP", "2", "missing", "l:m2", "LEFT", "COUNT", "5"), ("LMPOP", "1", "missing", "LEFT"),
    ("BLPOP", "l:list", "1"), ("BLPOP", "missing", "0.01"), ("BRPOP", "missing", "0.01"),
    ("BLMPOP", "0.01", "1", "missing", "LEFT"), ("BLMOVE", "missing", "l:x", "LEFT", "LEFT", "0.01"),
    ("LREM", "l:list", "0", "c"), ("LTRIM", "l:list", "0", "2"), ("LRANGE", "l:list", "0", "-1"),
    # hashes
    ("HGET", "h:hash", "f1"), ("HGET", "h:hash", "nope"), ("HMGET", "h:hash", "f1", "nope", "f2"),
    ("HGETALL", "h:hash"), ("HGETALL", "missing"), ("HKEYS", "h:hash"), ("HVALS", "h:hash"),
    ("HLEN", "h:hash"), ("HEXISTS", "h:hash", "f1"), ("HINCRBY", "h:hash", "n", "5"),
    ("HINCRBYFLOAT", "h:hash", "n", "0.5"), ("HSETNX", "h:hash", "f1", "x"), ("HSTRLEN", "h:hash", "f2"),
    ("HRANDFIELD", "h:hash", "100", "WITHVALUES"), ("HRANDFIELD", "missing"), ("HRANDFIELD", "missing", "2"),
    ("HSCAN", "h:hash", "0"), ("HDEL", "h:hash", "f2", "zz"),
    # sets (intsets and a one-member set keep order deterministic)
    ("SMEMBERS", "i:set"), ("SMEMBERS", "missing"), ("SISMEMBER", "i:set", "3"), ("SMISMEMBER", "i:set", "1", "4"),
    ("SCARD", "i:set"), ("SINTER", "i:set", "i:set2"), ("SUNION", "i:set", "i:set2"), ("SDIFF", "i:set", "i:set2"),
    ("SINTERCARD", "2", "i:set", "i:set2"), ("SRANDMEMBER", "i:set", "100"), ("SRANDMEMBER", "missing"),
    ("SMEMBERS", "s:one"), ("SSCAN", "i:set", "0"), ("SMOVE", "i:set", "i:set2", "8"), ("SPOP", "s:one"),
    ("SPOP", "s:one"), ("SREM", "i:set", "1", "99"), ("SINTERSTORE", "i:dst", "i:set", "i:set2"),
    # sorted sets
    ("ZRANGE", "z:zset", "0", "-1"), ("ZRANGE", "z:zset", "0", "-1", "WITHSCORES"),
    ("ZRANGE", "z:zset", "(1", "+inf", "BYSCORE", "WITHSCORES", "LIMIT", "0", "2"),
    ("ZRANGEBYSCORE", "z:zset", "-inf", "+inf", "WITHSCORES"), ("ZREVRANGE", "z:zset", "0", "1", "WITHSCORES"),
    ("ZREVRANGEBYSCORE", "z:zset", "+inf", "-inf", "WITHSCORES", "LIMIT", "1", "2"),
    ("ZRANGEBYLEX", "z:zset", "-", "+"), ("ZLEXCOUNT", "z:zset", "-", "+"),
    ("ZSCORE", "z:zset", "twohalf"), ("ZSCORE", "z:zset", "nope"), ("ZMSCORE", "z:zset", "one", "nope"),
    ("ZRANK", "z:zset", "two"), ("ZRANK", "z:zset", "nope"), ("ZREVRANK", "z:zset", "two"), ("ZCARD", "z:zset"),
    ("ZCOUNT", "z:zset", "1", "2"), ("ZINCRBY", "z:zset", "0.5", "one"), ("ZADD", "z:zset", "INCR", "1", "two"),
    ("ZADD", "z:zset", "NX", "INCR", "1", "two"), ("ZADD", "z:zset", "CH", "5", "five", "1", "one"),
    ("ZRANDMEMBER", "z:zset", "100", "WITHSCORES"), ("ZRANDMEMBER", "missing"),
    ("ZUNION", "2", "z:zset", "z:zset2", "WITHSCORES"), ("ZINTER", "2", "z:zset", "z:zset2", "WITHSCORES"),
    ("ZDIFF", "2", "z:zset", "z:zset2", "WITHSCORES"), ("ZUNIONSTORE", "z:u", "2", "z:zset", "z:zset2"),
    ("ZRANGESTORE", "z:rs", "z:zset", "0", "1"), ("ZSCAN", "z:zset", "0"),
    ("ZPOPMIN", "z:zset"), ("ZPOPMIN", "z:zset", "2"), ("ZPOPMAX", "z:zset"), ("ZPOPMAX", "z:zset", "1"),
    ("ZPOPMIN", "missing"), ("ZPOPMIN", "missing", "2"),
    ("ZMPOP", "2", "missing", "z:zset2", "MIN", "COUNT", "1"), ("ZMPOP", "1", "missing", "MIN"),
    ("BZPOPMIN", "z:zset2", "1"), ("BZPOPMIN", "missing", "0.01"), ("BZPOPMAX", "missing", "0.01"),
    ("BZMPOP", "0.01", "1", "missing", "MAX"), ("ZREM", "z:zset", "nope"),
    # streams (explicit IDs only)
    ("XLEN", "x:stream"), ("XRANGE", "x:stream", "-", "+"), ("XREVRANGE", "x:stream", "+", "-", "COUNT", "2"),
    ("XRANGE", "missing", "-", "+"), ("XREAD", "COUNT", "10", "STREAMS", "x:stream", "0"),
    ("XREAD", "STREAMS", "x:stream", "x:stream", "1-1", "2-1"),
    ("XREAD", "BLOCK", "10", "STREAMS", "x:stream", "$"), ("XREAD", "STREAMS", "x:stream", "9-0"),
    ("XREADGROUP", "GROUP", "grp", "alice", "COUNT", "2", "STREAMS", "x:stream", ">"),
    ("XREADGROUP", "GROUP", "grp", "alice", "STREAMS", "x:stream", "0"),
    ("XPENDING", "x:stream", "grp"), ("XPENDING", "x:stream", "grp", "IDLE", "100000000", "-", "+", "10"),
    ("XCLAIM", "x:stream", "grp", "bob", "0", "1-1"), ("XCLAIM", "x:stream", "grp", "bob", "0", "2-1", "JUSTID"),
    ("XAUTOCLAIM", "x:stream", "grp", "carol", "0", "0-0", "COUNT", "1"),
    ("XACK", "x:stream", "grp", "1-1", "9-9"), ("XINFO", "STREAM", "x:stream"), ("XINFO", "GROUPS", "x:stream"),
    ("XADD", "x:stream", "4-0", "f", "v4"), ("XADD", "x:stream", "3-5", "f", "bad"),
    ("XADD", "x:new", "NOMKSTREAM", "5-0", "f", "v"), ("XDEL", "x:stream", "2-1"),
    ("XTRIM", "x:stream", "MAXLEN", "2"), ("XSETID", "x:stream", "10-0"), ("XINFO", "STREAM", "x:stream"),
    # geo
    ("GEOPOS", "g:geo", "Palermo", "Nowhere"), ("GEODIST", "g:geo", "Palermo", "Catania", "km"),
    ("GEODIST", "g:geo", "Palermo", "Nowhere"), ("GEOHASH", "g:geo", "Palermo", "Catania"),
    ("GEOSEARCH", "g:geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH"),
    ("GEORADIUS", "g:geo", "15", "37", "200", "km", "WITHDIST", "ASC"),
    ("GEORADIUSBYMEMBER", "g:geo", "Palermo", "300", "km", "WITHCOORD", "ASC"),
    # bitmaps and hyperloglog
    ("GETBIT", "b:bits", "7"), ("BITCOUNT", "b:bits"), ("BITPOS", "b:bits", "1"), ("BITOP", "OR", "b:dst", "b:bits", "s:str"),
    ("BITFIELD", "b:bf", "SET", "u8", "0", "200", "GET", "u8", "0", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "100"),
    ("BITFIELD_RO", "b:bf", "GET", "u4", "0"),
    ("PFADD", "p:hll", "e"), ("PFCOUNT", "p:hll"), ("PFMERGE", "p:dst", "p:hll"), ("PFCOUNT", "p:dst"),
    # scripting
    ("EVAL", "return nil", "0"), ("EVAL", "return false", "0"), ("EVAL", "return true", "0"),
    ("EVAL", "return {1, 'two', {3, 'four'}, true}", "0"), ("EVAL", "return 3.99", "0"),
    ("EVAL", "return {double=3.25}", "0"), ("EVAL", "return redis.status_reply('FINE')", "0"),
    ("EVAL", "return redis.error_reply('MYERR custom')", "0"), ("EVAL", "return {1, false, 2}", "0"),
    ("EVAL", "redis.setresp(3); return false", "0"), ("EVAL", "redis.setresp(3); return {true, false}", "0"),
    ("EVAL", "return redis.call('HGETALL', KEYS[1])", "1", "h:hash"), ("EVAL", LUA_HGETALL3, "1", "h:hash"),
    ("EVAL", "redis.setresp(3); return redis.call('ZSCORE', KEYS[1], 'two')", "1", "z:zset"),
    ("EVAL", "return redis.call('GET', 'missing')", "0"), ("EVAL", "return redis.call('INCR', KEYS[1])", "1", "s:str"),
    ("EVAL", "return {big_number='123456789012345678901234567890'}", "0"),
    ("SCRIPT", "LOAD", "return 7"), ("EVALSHA", "1e5c3eaa7e4e0e6b5b0d0b8f4c4bd6b0e4ad27b4", "0"),
    ("EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "s:new"),
    # keyspace
    ("TYPE", "s:str"), ("TYPE", "l:list"), ("TYPE", "h:hash"), ("TYPE", "i:set"), ("TYPE", "z:zset2"),
    ("TYPE", "x:stream"), ("TYPE", "missing"), ("TTL", "s:str"), ("TTL", "missing"),
    ("PTTL", "s:str"), ("EXPIRETIME", "k:expat"), ("PEXPIRETIME", "k:expat"), ("EXISTS", "s:str", "missing", "s:str"),
    ("OBJECT", "ENCODING", "s:str"), ("OBJECT", "ENCODING", "s:new"), ("OBJECT", "ENCODING", "l:list"),
    ("OBJECT", "ENCODING", "h:hash"), ("OBJECT", "ENCODING", "i:set"), ("OBJECT", "ENCODING", "z:zset2"),
    ("OBJECT", "ENCODING", "missing"), ("OBJECT", "FREQ", "s:str"),
    ("SCAN", "0", "MATCH", "s:lcs1", "COUNT", "1000"), ("KEYS", "h:*"), ("SORT", "i:set"),
    ("SORT", "i:set", "DESC", "LIMIT", "0", "2"), ("SORT_RO", "l:list", "ALPHA"), ("COPY", "s:new", "s:copy"),
    ("RENAME", "s:copy", "s:copy2"), ("RENAMENX", "s:copy2", "s:new"), ("TOUCH", "s:new", "missing"),
    ("DUMP", "s:int"), ("DUMP", "missing"), ("PERSIST", "k:ttl"), ("EXPIRE", "s:new", "100", "NX"),
    ("DEL", "s:copy2", "missing"), ("UNLINK", "m1"),
    # errors
    ("LPUSH", "s:str", "x"), ("GET", "l:list"), ("HGET", "s:str", "f"), ("GET",), ("SET", "a"),
    ("NOSUCHCOMMAND", "a", "b"), ("nosuch",), ("SET", "a", "b", "BADOPT"), ("INCR", "s:str"),
    ("INCRBYFLOAT", "s:str", "1"), ("ZADD", "z:zset", "nan", "x"), ("CONFIG", "FOO"), ("OBJECT", "NOPE"),
    ("LINDEX", "l:list", "notanint"), ("EXPIRE", "s:str", "abc"), ("XADD", "x:stream", "1-0", "f"),
    ("EVAL", "return redis.call('NOSUCH')", "0"), ("EVAL", "syntax error here", "0"),
    ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), ("ZRANGE", "z:zset", "0", "1", "BYLEX"),
    ("XGROUP", "CREATE", "x:stream", "grp", "0"), ("SELECT", "notanumber"),
    # transactions
    ("MULTI",), ("SET", "tx:a", "1"), ("INCR", "tx:a"), ("HGETALL", "h:hash"), ("ZRANGE", "z:u", "0", "-1", "WITHSCORES"),
    ("ZSCORE", "z:u", "one"), ("GET", "missing"), ("EVAL", "return false", "0"), ("LPUSH", "s:str", "x"),
    ("XREAD", "STREAMS", "x:stream", "0"), ("SMEMBERS", "i:set"), ("EXEC",),
    ("MULTI",), ("PING",), ("DISCARD",), ("EXEC",), ("DISCARD",),
    ("MULTI",), ("SET", "tx:b"), ("SET", "tx:b", "1"), ("EXEC",), ("GET", "tx:b"),
    ("WATCH", "tx:w"), ("SET", "tx:w", "1"), ("MULTI",), ("GET", "tx:w"), ("EXEC",),
    ("WATCH", "tx:w"), ("MULTI",), ("INCR", "tx:w"), ("EXEC",), ("UNWATCH",), ("MULTI",), ("MULTI",), ("EXEC",),
]


def seed(redis_ep) -> None:
    with Conn(redis_ep.addr) as c:
        assert c.call("FLUSHALL") == "OK"
        assert c.call("SCRIPT", "FLUSH") == "OK"
        for command in SEED:
            r = c.call(*command)
            assert not isinstance(r, str) or not r.startswith("ERR"), (command, r)


def run_corpus(ep, redis_ep, proto: int, pipelined: bool = False) -> list:
    seed(redis_ep)
    with Conn(ep.addr, timeout=10) as c:
        if proto == 3:
            hello3(c)
        if pipelined:
            c.send(b"".join(cmd(*command) for command in CORPUS))
            return [c.read_raw() for _ in CORPUS]
        return [c.call_raw(*command) for command in CORPUS]


def compare(direct_replies, proxy_replies) -> list:
    mismatches = []
    for command, d, p in zip(CORPUS, direct_replies, proxy_replies):
        if d != p:
            mismatches.append(f"{' '.join(map(str, command))[:90]!s}\n    redis:   {d[:300]!r}\n    respite: {p[:300]!r}")
    return mismatches


@pytest.mark.parametrize("proto", [2, 3])
def test_corpus_matches_redis_byte_for_byte(proxy, redis, proto):
    """Every corpus reply through Respite equals redis-server's own bytes (RESP2 and RESP3)."""
    direct = run_corpus(redis, redis, proto)
    via = run_corpus(proxy, redis, proto)
    mismatches = compare(direct, via)
    if mismatches:
        print(f"\n{len(mismatches)} of {len(CORPUS)} replies differ (RESP{proto}):")
        print("\n".join(mismatches))
    assert not mismatches, f"{len(mismatches)} mismatches in RESP{proto}; first: {mismatches[0]}"


@pytest.mark.parametrize("proto", [2, 3])
def test_corpus_pipelined_in_one_write_matches_redis(proxy, redis, proto):
    """The whole corpus written at once through Respite gives redis's replies, in order."""
    direct = run_corpus(redis, redis, proto)
    via = run_corpus(proxy, redis, proto, pipelined=True)
    mismatches = compare(direct, via)
    if mismatches:
        print(f"\n{len(mismatches)} of {len(CORPUS)} replies differ (RESP{proto}, pipelined):")
        print("\n".join(mismatches))
    assert not mismatches, f"{len(mismatches)} mismatches; first: {mismatches[0]}"


def test_corpus_is_deterministic_on_redis(redis):
    """The corpus itself is repeatable: two direct runs give identical bytes (validates the test)."""
    for proto in (2, 3):
        a = run_corpus(redis, redis, proto)
        b = run_corpus(redis, redis, proto)
        assert compare(a, b) == []


def test_resp2_and_resp3_differ_where_expected(redis):
    """Sanity: the corpus exercises RESP3-only types (maps, doubles, nulls, booleans)."""
    r2 = run_corpus(redis, redis, 2)
    r3 = run_corpus(redis, redis, 3)
    joined3 = b"".join(r3)
    for marker in (b"%", b",", b"_\r\n", b"#f\r\n", b"#t\r\n", b"~"):
        assert marker in joined3
    differing = sum(1 for a, b in zip(r2, r3) if a != b)
    assert differing > 40, differing

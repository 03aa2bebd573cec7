"""Key-value interop driver: nats-py on the other side of the Rust client's KV tests.

Targets nats-py 2.16.0 (pinned as NATS_PY_VERSION in tests/src/python.rs, which installs it
and runs this script with PYTHONPATH set) and its JetStream KV API: js.key_value,
js.create_key_value, kv.put/create/update/delete/purge/get/history/watch.

    kv_interop.py write           <url> <bucket>   the fixed sequence below, one JSON line per op
    kv_interop.py read            <url> <bucket>   the bucket as one JSON object (format below)
    kv_interop.py check           <url> <bucket>   `read`, compared with kv_interop_expected.json
    kv_interop.py expect-conflict <url> <bucket>   nats-py's exception class per conflict case

The fixed sequence (`write`, creating the bucket with history 10 if absent), with the
revisions it gets in a fresh bucket:

    put a=1 (1), put b=2 (2), put a=3 (3), create c=4 (4), update c=5 at c's revision (5),
    delete b (6), purge a (7), put d=6 (8)

`write` prints `{"op": "put"|"create"|"update"|"delete"|"purge", "key": K, "revision": N}`.
nats-py's delete and purge return True, not a revision: for them N is the revision of the
marker, read back as the last entry of `kv.history(key)`.

`read` prints `{"history": {key: [entry, ...]}, "latest": {key: value-or-null}}` where each
entry is `{"key", "value" (UTF-8 text, null for a marker), "revision", "operation":
"PUT"|"DEL"|"PURGE"}` in revision order, for every key still in the bucket's stream (markers
included), and `latest` is `kv.get(key)`'s value, null when the key is deleted or purged.
After the fixed sequence in a fresh bucket it is exactly kv_interop_expected.json: the purge
marker is a rollup, so a's revisions 1 and 3 are gone and a's history is the marker alone,
while the delete marker is not (whatever nats-py's docstring says), so b keeps revision 2.
`check` prints `ok`, or exits 1 with both objects on stderr.

`expect-conflict` works on key `conflict` (putting it first if absent), so run it on a bucket
of its own: it prints one JSON object naming the class nats-py raises for `create` on an
existing key, `update` with a wrong revision and `get` of a deleted key (and the revision a
`create` after that delete gets, which succeeds), e.g. {"create_existing":
{"description": "wrong last sequence: 1", "error": "KeyWrongLastSequenceError"}, ...}.

Any unexpected error exits non-zero with the exception on stderr.
"""

import asyncio
import json
import pathlib
import sys

import nats
import nats.js.errors as errors

TIMEOUT = 30  # seconds for a whole subcommand; the harness kills the process later than this


async def connect(url):
    async def report(e):  # one line per failed attempt instead of nats-py's traceback
        print(f"nats-py: {e!r}", file=sys.stderr)

    # allow_reconnect=False alone still retries the first connect for a minute or two;
    # max_reconnect_attempts=1 fails after two tries.
    nc = await nats.connect(
        url,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.2,
        connect_timeout=5,
        error_cb=report,
    )
    return nc, nc.jetstream(timeout=5)


async def bucket(js, name, create):
    try:
        return await js.key_value(name)
    except errors.BucketNotFoundError:
        if not create:
            raise
        return await js.create_key_value(bucket=name, history=10)


# nats-py 2.16's watch, and so its history, can say "caught up" before the entries it has
# already received: it takes the consumer's num_pending (0 once the server sent everything)
# and the entries its callback has handled so far (none yet) and, seeing both at 0, yields
# its end-of-initial-values marker first. A watch of keys that do exist then comes back
# empty; asking again settles it (seen once in CI: NoKeysError for a key just read).
ATTEMPTS = 10


async def history(kv, key):
    """kv.history(key), asked again while nats-py's race above makes it look empty."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await kv.history(key)
        except errors.NoKeysError:
            continue
    return await kv.history(key)


async def keys_with_entries(kv):
    """Every key with anything in the stream, markers included (keys() would skip those),
    asked again while nats-py's race above makes the watch look empty."""
    for _ in range(ATTEMPTS):
        watcher = await kv.watch(">", include_history=True, ignore_deletes=False)
        keys = set()
        async for entry in watcher:
            if entry is None:  # caught up with what the stream held
                break
            keys.add(entry.key)
        await watcher.stop()
        if keys:
            return keys
    return set()


async def marker_revision(kv, key):
    return (await history(kv, key))[-1].revision


async def write(kv):
    def line(op, key, revision):
        print(json.dumps({"op": op, "key": key, "revision": revision}), flush=True)

    line("put", "a", await kv.put("a", b"1"))
    line("put", "b", await kv.put("b", b"2"))
    line("put", "a", await kv.put("a", b"3"))
    c = await kv.create("c", b"4")
    line("create", "c", c)
    line("update", "c", await kv.update("c", b"5", last=c))
    await kv.delete("b")
    line("delete", "b", await marker_revision(kv, "b"))
    await kv.purge("a")
    line("purge", "a", await marker_revision(kv, "a"))
    line("put", "d", await kv.put("d", b"6"))


async def read(kv):
    keys = await keys_with_entries(kv)
    histories, latest = {}, {}
    for key in sorted(keys):
        entries = sorted(await history(kv, key), key=lambda e: e.revision)
        histories[key] = [
            {
                "key": e.key,
                "value": None if e.operation else e.value.decode("utf-8"),
                "revision": e.revision,
                "operation": e.operation or "PUT",
            }
            for e in entries
        ]
        try:
            latest[key] = (await kv.get(key)).value.decode("utf-8")
        except (errors.KeyNotFoundError, errors.KeyDeletedError):
            latest[key] = None
    return {"history": histories, "latest": latest}


def error(e):
    # KeyWrongLastSequenceError keeps the server's description but not its err_code (10071).
    out = {"error": type(e).__name__, "description": getattr(e, "description", None)}
    if getattr(e, "op", None):
        out["op"] = e.op  # get() of a deleted key raises KeyNotFoundError with op "DEL"
    return out


async def expect_conflict(kv):
    key = "conflict"
    try:
        revision = (await kv.get(key)).revision
    except errors.KeyNotFoundError:
        revision = await kv.put(key, b"1")
    out = {}
    try:
        await kv.create(key, b"2")
        raise AssertionError("create on an existing key succeeded")
    except errors.Error as e:
        out["create_existing"] = error(e)
    try:
        await kv.update(key, b"3", last=revision + 1)
        raise AssertionError("update with a wrong revision succeeded")
    except errors.Error as e:
        out["update_wrong_revision"] = error(e)
    await kv.delete(key)
    try:
        await kv.get(key)
        raise AssertionError("get of a deleted key succeeded")
    except errors.Error as e:
        out["get_deleted"] = error(e)
    out["create_after_delete"] = {"revision": await kv.create(key, b"4")}
    return out


async def main(command, url, name):
    """Runs one subcommand; returns None, or the message to exit non-zero with."""
    nc, js = await connect(url)
    try:
        kv = await bucket(js, name, create=command in ("write", "expect-conflict"))
        if command == "write":
            await write(kv)
        elif command == "read":
            print(json.dumps(await read(kv), sort_keys=True))
        elif command == "check":
            got = await read(kv)
            path = pathlib.Path(__file__).with_name("kv_interop_expected.json")
            want = json.loads(path.read_text())
            if got != want:
                return (
                    f"bucket {name} differs from {path.name}\n"
                    f"expected: {json.dumps(want, sort_keys=True)}\n"
                    f"got:      {json.dumps(got, sort_keys=True)}"
                )
            print("ok")
        elif command == "expect-conflict":
            print(json.dumps(await expect_conflict(kv), sort_keys=True))
    finally:
        await nc.close()
    return None


COMMANDS = ("write", "read", "check", "expect-conflict")

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} <url> <bucket>")
    sys.exit(asyncio.run(asyncio.wait_for(main(*sys.argv[1:]), TIMEOUT)))

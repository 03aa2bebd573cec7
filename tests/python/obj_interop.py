"""Object-store interop driver: nats-py on the other side of the Rust client's object-store tests.

Targets nats-py 2.16.0 (pinned as NATS_PY_VERSION in tests/src/python.rs, which installs it
and runs this script with PYTHONPATH set) and its JetStream object-store API:
js.create_object_store, js.object_store, obs.put/get/get_info/delete/list/update_meta/seal/
status.

    obj_interop.py write <url> <bucket>               the fixed set below, one JSON line per op
    obj_interop.py read  <url> <bucket>               the bucket as one JSON object (below)
    obj_interop.py check <url> <bucket>               `read` against obj_interop_expected.json
    obj_interop.py get   <url> <bucket> <name>        the object's bytes, raw, on stdout
    obj_interop.py put   <url> <bucket> <name> <size> [<chunk size>]
                                                      an object of data(size); one JSON line
    obj_interop.py seal  <url> <bucket>               seals the bucket; prints `read`'s "bucket"

Deterministic bytes: data(n) = bytes((i * 7 + 3) % 251 for i in range(n)) (period 251, so
data(n) is a prefix of data(m) for n <= m; the first bytes are 03 0a 11 18 1f ...).

The fixed set (`write`, creating the bucket with description DESCRIPTION if absent, and the
bucket OTHER_BUCKET = "interop-other" if absent, that one with no description):

    empty          data(0)
    small          data(10)
    exact          data(131072), exactly one default chunk
    multi          data(393221), 3 default chunks + 5 bytes (4 chunks)
    custom         data(300000) with max_chunk_size 50000 (6 chunks)
    described      data(1000), put with description "draft" and no headers, then
                   update_meta to DESCRIBED_DESCRIPTION and DESCRIBED_HEADERS, then METADATA
                   added (see "metadata" below)
    link-to-small  a link to object `small` of this bucket
    to-other       a link to the whole bucket OTHER_BUCKET
    deleted        data(20), then deleted

`write` prints one line per operation, `{"op": "put"|"update_meta"|"metadata"|"link"|
"bucket_link"|"delete", "name", "size", "chunks", "digest", "nuid"}`, where the values are
those of the record just stored (digest null for links; nats-py's delete stores "").

`read` prints `{"bucket": {"description", "sealed"}, "objects": {name: {...}}}` with sorted
keys, one entry per name nats-py's `obs.list()` returns (deleted objects included: list()'s
default ignore_deletes=False shows them, with deleted true). Each entry:

    bucket          the record's `bucket` field
    chunks, size    as stored
    deleted         true or false
    description     null when absent or ""
    digest          as stored; null when absent or "" (links, deleted objects)
    headers         name -> list of values; null when absent or empty
    link            {"bucket", "name"} (name null for a bucket link), or null
    max_chunk_size  options.max_chunk_size, or null
    metadata        name -> value from the raw meta JSON (nats-py drops it), null when empty
    nuid_set        whether `nuid` is non-empty (nats-py's get fails without one, even on links)
    read            what `obs.get(name)` gave: {"size", "sha256", "digest_matches"} or
                    {"error": "<class>"}, e.g. ObjectNotFoundError for a deleted object,
                    LinkIsABucketError for a bucket link. digest_matches compares `sha256`
                    with the digest of the record get() returned: for an object link, get()
                    reads through it and returns the target's bytes and record.

sha256 is "SHA-256=" + urlsafe_b64encode(sha256(bytes read)) with padding, computed here.
`check` compares `read` with obj_interop_expected.json, in which the string "$BUCKET" stands for
the bucket's name; it prints `ok`, or exits 1 with both objects on stderr.

What nats-py 2.16.0 does (read from nats/js/object_store.py and api.py, and tried):
- Names: the meta subject is $O.<bucket>.M.<urlsafe_b64encode(name)> WITH `=` padding
  (as nats.go's base64.URLEncoding); chunks go on $O.<bucket>.C.<nuid>, a fresh NUID per put.
  put() does not validate names (VALID_KEY_RE is defined but unused).
- Default chunk size 128 KiB (131072). A custom one: put(name, data,
  meta=ObjectMeta(options=ObjectMetaOptions(max_chunk_size=N))); options given without
  max_chunk_size crash put (bytearray(None)).
- options.max_chunk_size: put() always writes it, 131072 by default, else the one given.
- mtime: put() writes mtime = datetime.now(timezone.utc).isoformat(), e.g.
  "2025-01-01T12:00:00.123456+00:00" (offset, not "Z"; nats.go stores the zero time
  "0001-01-01T00:00:00Z"); delete() writes "mtime": "" (empty string). get_info() returns the
  stored mtime string, not the message time.
- Headers: the ObjectMeta/ObjectInfo `headers` dict is written verbatim as JSON; for nats.go's
  shape pass name -> [values], as this script does. No canonicalisation.
- Metadata: NOT supported. ObjectMeta/ObjectInfo have no `metadata` field; from_response
  drops unknown keys, so get_info() loses it, and update_meta() (which republishes the parsed
  info) erases a stored one. This script writes it by republishing the raw meta JSON with a
  `metadata` key (rollup, as nats.go's UpdateMeta would) and reads it from the raw record.
- Links: nats-py 2.16.0 has NO add_link/add_bucket_link; it only reads them
  (ObjectInfo.is_link(), options.link {bucket, name}). This script writes link records the
  way nats.go's AddLink/AddBucketLink do: {"name", "options": {"link": {"bucket", "name"}}
  (name omitted for a bucket link), "bucket", "nuid" (fresh), "size": 0, "mtime":
  "0001-01-01T00:00:00Z", "chunks": 0}, no digest, with Nats-Rollup: sub.
- get() on an object link reads the target through js.object_store(link.bucket) (so that
  bucket must exist) and returns the target's ObjectResult (its info, not the link's); it
  drops `writeinto` on that path, returning the bytes in .data. On a bucket link it raises
  LinkIsABucketError. It raises BadObjectMetaError when `nuid` is empty, before looking at the
  link.
- Digest: "SHA-256=" + urlsafe_b64encode(sha256) WITH padding. get() checks it when the
  chunk with num_pending 0 arrives, decoding the stored digest with urlsafe_b64decode, so an
  unpadded digest raises binascii.Error ("Incorrect padding") instead of
  DigestMismatchError. A size-0 object is returned without reading or checking anything.
  Neither size nor chunk count is checked, only the digest.
- Missing or corrupted chunk (tried on a 4-chunk object): js.delete_msg on OBJ_<bucket> of
  the 2nd chunk, or of the last one, a stray message published onto the chunk subject, and a
  wrong stored digest all make get() raise DigestMismatchError (no detail), once the chunk
  with num_pending 0 arrives; the bytes before it have already gone to `writeinto`. With
  every chunk purged it waits on the ordered consumer for ever (only a timeout ends it).
- delete(): republishes the meta with deleted true, size 0, chunks 0, digest "", mtime "",
  keeping name, nuid and options; then purges the chunk subject. get_info()/get() of it raise
  ObjectNotFoundError (get_info(show_deleted=True) returns it).
- update_meta(name, meta): replaces description and headers (metadata lost, see above);
  renaming is broken in 2.16.0 (it raises ObjectAlreadyExists whenever the old name exists).
- list(): the last record of every name, deleted ones included unless ignore_deletes=True;
  raises NotFoundError on an empty bucket (read reports no objects then).
- seal(): update_stream with sealed true; status().sealed reads it. A put into a sealed
  bucket raises BadRequestError (err_code 10109, "invalid operation on sealed stream").
- Records it writes: put {"name", "bucket", "nuid", "size", "mtime", "chunks", "digest",
  "deleted": false, ["description"], ["headers"], "options": {"max_chunk_size"}}; delete the
  same with size 0, chunks 0, digest "", mtime "", deleted true. Every meta publish carries
  Nats-Rollup: sub. Buckets: stream OBJ_<bucket> on $O.<bucket>.C.> and $O.<bucket>.M.>,
  discard new, allow_rollup_hdrs, allow_direct.

Any unexpected error exits non-zero with the exception on stderr.
"""

import asyncio
import base64
import binascii
import hashlib
import json
import pathlib
import sys

import nats
import nats.js.errors as errors
from nats.js import api
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.nuid import NUID

TIMEOUT = 45  # seconds for a whole subcommand; the harness kills the process later (60 s)

DESCRIPTION = "object-store interop bucket"
OTHER_BUCKET = "interop-other"
DESCRIBED_DESCRIPTION = "an object with a description, headers and metadata"
DESCRIBED_HEADERS = {"Content-Type": ["application/octet-stream"], "X-Interop": ["one", "two"]}
METADATA = {"origin": "interop", "kind": "described"}
DEFAULT_CHUNK = 128 * 1024
ZERO_TIME = "0001-01-01T00:00:00Z"

_PERIOD = bytes((i * 7 + 3) % 251 for i in range(251))


def data(n):
    """bytes((i * 7 + 3) % 251 for i in range(n)), without a Python loop over n."""
    return (_PERIOD * (n // 251 + 1))[:n]


def digest_of(b):
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).decode()


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


async def bucket(js, name, create, description=None):
    try:
        return await js.object_store(name)
    except errors.BucketNotFoundError:
        if not create:
            raise
        return await js.create_object_store(bucket=name, description=description)


def meta_subject(bucket_name, name):
    return f"$O.{bucket_name}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


async def raw_meta(js, bucket_name, name):
    """The stored meta record of `name`, as JSON (with what nats-py's ObjectInfo drops)."""
    msg = await js.get_last_msg(f"OBJ_{bucket_name}", meta_subject(bucket_name, name))
    return json.loads(msg.data)


async def publish_meta(js, bucket_name, record):
    await js.publish(
        meta_subject(bucket_name, record["name"]),
        json.dumps(record).encode(),
        headers={api.Header.ROLLUP: MSG_ROLLUP_SUBJECT},
    )


def line(op, record):
    get = record.get if isinstance(record, dict) else lambda k: getattr(record, k)
    out = {"op": op}
    for k in ("name", "size", "chunks", "digest", "nuid"):
        out[k] = get(k)
    print(json.dumps(out, sort_keys=True), flush=True)


async def put(obs, name, size, chunk_size=None):
    meta = None
    if chunk_size is not None:
        meta = api.ObjectMeta(options=api.ObjectMetaOptions(max_chunk_size=chunk_size))
    return await obs.put(name, data(size), meta=meta)


async def add_link(js, bucket_name, name, target_bucket, target_name=None):
    """A link record as nats.go's AddLink (target_name set) / AddBucketLink writes it."""
    link = {"bucket": target_bucket}
    if target_name is not None:
        link["name"] = target_name
    record = {
        "name": name,
        "options": {"link": link},
        "bucket": bucket_name,
        "nuid": NUID().next().decode(),
        "size": 0,
        "mtime": ZERO_TIME,
        "chunks": 0,
    }
    await publish_meta(js, bucket_name, record)
    return record


async def write(js, obs, name):
    await bucket(js, OTHER_BUCKET, create=True)
    line("put", await put(obs, "empty", 0))
    line("put", await put(obs, "small", 10))
    line("put", await put(obs, "exact", DEFAULT_CHUNK))
    line("put", await put(obs, "multi", 3 * DEFAULT_CHUNK + 5))
    line("put", await put(obs, "custom", 300000, chunk_size=50000))

    line("put", await obs.put("described", data(1000), meta=api.ObjectMeta(description="draft")))
    await obs.update_meta(
        "described",
        api.ObjectMeta(
            name="described", description=DESCRIBED_DESCRIPTION, headers=DESCRIBED_HEADERS
        ),
    )
    line("update_meta", await obs.get_info("described"))
    record = await raw_meta(js, name, "described")
    record["metadata"] = METADATA
    await publish_meta(js, name, record)
    line("metadata", record)

    line("link", await add_link(js, name, "link-to-small", name, "small"))
    line("bucket_link", await add_link(js, name, "to-other", OTHER_BUCKET))

    line("put", await put(obs, "deleted", 20))
    await obs.delete("deleted")
    line("delete", await obs.get_info("deleted", show_deleted=True))


def none_if_empty(v):
    return v if v else None


def error_name(e):
    return type(e).__name__


async def read_object(js, obs, bucket_name, info):
    raw = await raw_meta(js, bucket_name, info.name)
    link = None
    if info.is_link():
        link = {"bucket": info.options.link.bucket, "name": none_if_empty(info.options.link.name)}
    entry = {
        "bucket": info.bucket,
        "chunks": info.chunks,
        "deleted": bool(info.deleted),
        "description": none_if_empty(info.description),
        "digest": none_if_empty(info.digest),
        "headers": none_if_empty(info.headers),
        "link": link,
        "max_chunk_size": info.options.max_chunk_size if info.options else None,
        "metadata": none_if_empty(raw.get("metadata")),
        "nuid_set": bool(info.nuid),
        "size": info.size,
    }
    try:
        got = await obs.get(info.name)
        entry["read"] = {
            "size": len(got.data),
            "sha256": digest_of(got.data),
            "digest_matches": digest_of(got.data) == got.info.digest,
        }
    except (errors.Error, binascii.Error) as e:
        entry["read"] = {"error": error_name(e)}
    return entry


# nats-py 2.16's watch, and so its list(), can say "caught up" before the records it has
# already received: it takes the consumer's num_pending (0 once the server sent everything)
# and the records its callback has handled so far (none yet) and, seeing both at 0, yields
# its end-of-initial-values marker first. A bucket with objects then lists as empty; asking
# again settles it (the same race made kv_interop.py's history() fail once in CI).
ATTEMPTS = 10


async def list_objects(obs):
    """obs.list(), asked again while nats-py's race above makes it look empty."""
    for _ in range(ATTEMPTS):
        try:
            return await obs.list()
        except errors.NotFoundError:  # list() of an empty bucket, or the race
            continue
    return []


async def read(js, obs, name):
    status = await obs.status()
    infos = await list_objects(obs)
    objects = {}
    for info in infos:
        objects[info.name] = await read_object(js, obs, name, info)
    return {
        "bucket": {"description": none_if_empty(status.description), "sealed": bool(status.sealed)},
        "objects": objects,
    }


def substitute(value, bucket_name):
    if isinstance(value, dict):
        return {k: substitute(v, bucket_name) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, bucket_name) for v in value]
    return bucket_name if value == "$BUCKET" else value


class Stdout:
    """A writeinto target for obs.get: raw bytes to stdout, counted."""

    def __init__(self):
        self.written = 0

    def write(self, b):
        sys.stdout.buffer.write(b)
        self.written += len(b)


async def main(command, url, name, *args):
    """Runs one subcommand; returns None, or the message to exit non-zero with."""
    nc, js = await connect(url)
    try:
        obs = await bucket(js, name, create=command in ("write", "put"), description=DESCRIPTION)
        if command == "write":
            await write(js, obs, name)
        elif command == "read":
            print(json.dumps(await read(js, obs, name), sort_keys=True))
        elif command == "check":
            got = await read(js, obs, name)
            path = pathlib.Path(__file__).with_name("obj_interop_expected.json")
            want = substitute(json.loads(path.read_text()), name)
            if got != want:
                return (
                    f"bucket {name} differs from {path.name}\n"
                    f"expected: {json.dumps(want, sort_keys=True)}\n"
                    f"got:      {json.dumps(got, sort_keys=True)}"
                )
            print("ok")
        elif command == "get":
            (obj,) = args
            out = Stdout()
            result = await obs.get(obj, writeinto=out)
            if out.written == 0 and result.data:  # read through a link: nats-py drops writeinto
                out.write(result.data)
            sys.stdout.buffer.flush()
        elif command == "put":
            obj, size, *chunk = args
            line("put", await put(obs, obj, int(size), int(chunk[0]) if chunk else None))
        elif command == "seal":
            await obs.seal()
            print(json.dumps((await read(js, obs, name))["bucket"], sort_keys=True))
    finally:
        await nc.close()
    return None


ARITY = {"write": 0, "read": 0, "check": 0, "get": (1,), "put": (2, 3), "seal": 0}


def usage_ok(argv):
    if len(argv) < 4 or argv[1] not in ARITY:
        return False
    extra = len(argv) - 4
    allowed = ARITY[argv[1]]
    return extra in allowed if isinstance(allowed, tuple) else extra == allowed


if __name__ == "__main__":
    if not usage_ok(sys.argv):
        sys.exit(
            f"usage: {sys.argv[0]} write|read|check|seal <url> <bucket>\n"
            f"       {sys.argv[0]} get <url> <bucket> <name>\n"
            f"       {sys.argv[0]} put <url> <bucket> <name> <size> [<chunk size>]"
        )
    sys.exit(asyncio.run(asyncio.wait_for(main(*sys.argv[1:]), TIMEOUT)))

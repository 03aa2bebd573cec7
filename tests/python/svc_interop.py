"""Service-API ("micro") interop driver: nats-py on the other side of the Rust service tests.

Targets nats-py 2.16.0 (pinned as NATS_PY_VERSION in tests/src/python.rs, which installs it
and runs this script with PYTHONPATH set) and its `nats.micro` module: add_service,
Service.add_endpoint/add_group/stop, Request.respond, ServiceError, and the response classes
ServicePing/ServiceInfo/ServiceStats (used here only to see whether nats-py can parse what it
gets).

    svc_interop.py serve    <url> <name> <version> <seconds>   a nats-py service (below)
    svc_interop.py discover <url> <name>                       PING/INFO/STATS + calls, as JSON
    svc_interop.py check    <url> <name> [--python] [--version <v>]
                                                               `discover`, checked field by field

serve
    Starts the service <name> <version> with description PYTHON_SERVICE["description"],
    metadata PYTHON_SERVICE["metadata"] and the endpoints of ENDPOINTS:
        echo    subject svc.echo, metadata {"kind": "echo"}, replies with the request payload
        fail    subject svc.fail, raises ServiceError("418", "teapot"): the reply carries
                Nats-Service-Error: teapot and Nats-Service-Error-Code: 418, and nats-py counts
                it (num_errors, last_error "418:teapot")
        double  in group `math` (queue group "math-workers", set on the group), so subject
                math.double; replies with the decimal integer doubled ("21" -> "42"); a
                payload that is not an integer gets error 400 "not an integer"
    Prints `{"id": "<instance id>", "ready": true}` once all endpoints are subscribed and
    flushed, then serves until <seconds> have passed, stdin reaches EOF (only watched when
    stdin is a pipe, socket or terminal: /dev/null, which tests/src/python.rs gives by default,
    or a regular file would read EOF at once) or SIGTERM/SIGINT; then stops the service and
    prints `{"stopped": true}`.

discover
    Asks, as a client with no discovery helper (nats-py's micro has none), by publishing with a
    reply inbox and collecting every answer for WINDOW seconds:
      1. PING and INFO on $SRV.<VERB>.<name> (the lists "ping" and "info") and on
         $SRV.<VERB> (the "all" form, answers filtered by name), all at once;
      2. PING and INFO on $SRV.<VERB>.<name>.<id> for each id that answered PING;
      3. each endpoint listed in INFO whose name is in CALLS, on the subject INFO gives:
         echo "hello", double "21", fail "boom";
      4. STATS in the three forms, after the calls, so their counts show in it.
    Prints one JSON object (sorted keys):
      "ping", "info", "stats"  every answer to the by-name request, parsed JSON ({"unparsable":
                               text} when it is not JSON)
      "forms"                  {"PING"|"INFO"|"STATS": {"all": [ids], "name": [ids],
                               "id": [ids]}}: who answered each subject form ("id": the ids
                               that answered their own $SRV.<VERB>.<name>.<id>)
      "calls"                  {endpoint: {"subject", "request", "reply" (payload as text),
                               "headers" (dict or null)} or {"subject", "request", "error":
                               "<exception class>: <text>"} or {"subject", "skipped": true}}
      "nats_py_parse"          {"ping"|"info"|"stats": ["ok" or "<exception>: <text>", ...]}:
                               whether nats-py's own ServicePing/ServiceInfo/ServiceStats
                               .from_dict accept each answer (information only, see below)
    A real sample, against `serve` (`serve URL pysvc 1.2.3 20`; repeated parts elided):
      {"calls": {"double": {"headers": null, "reply": "42", "request": "21",
      "subject": "math.double"}, "echo": {"headers": null, "reply": "hello", "request":
      "hello", "subject": "svc.echo"}, "fail": {"headers": {"Nats-Service-Error": "teapot",
      "Nats-Service-Error-Code": "418"}, "reply": "", "request": "boom", "subject":
      "svc.fail"}}, "forms": {"INFO": {"all": ["8qmSB6p7E0KNGfsluxPOLv"], "id":
      ["8qmSB6p7E0KNGfsluxPOLv"], "name": ["8qmSB6p7E0KNGfsluxPOLv"]}, "PING": {...},
      "STATS": {...}}, "info": [{"description": "python interop service", "endpoints":
      [{"metadata": {"kind": "echo"}, "name": "echo", "queue_group": "q", "subject":
      "svc.echo"}, {"metadata": null, "name": "fail", "queue_group": "q", "subject":
      "svc.fail"}, {"metadata": null, "name": "double", "queue_group": "math-workers",
      "subject": "math.double"}], "id": "8qmSB6p7E0KNGfsluxPOLv", "metadata": {"lang":
      "python"}, "name": "pysvc", "type": "io.nats.micro.v1.info_response", "version":
      "1.2.3"}], "nats_py_parse": {"info": ["ok"], "ping": ["ok"], "stats": ["ok"]}, "ping":
      [{"id": "8qmSB6p7E0KNGfsluxPOLv", "metadata": {"lang": "python"}, "name": "pysvc",
      "type": "io.nats.micro.v1.ping_response", "version": "1.2.3"}], "stats": [{"endpoints":
      [{"average_processing_time": 43635, "data": null, "last_error": "", "name": "echo",
      "num_errors": 0, "num_requests": 1, "processing_time": 43635, "queue_group": "q",
      "subject": "svc.echo"}, {"average_processing_time": 45437, "data": null, "last_error":
      "418:teapot", "name": "fail", "num_errors": 1, "num_requests": 1, "processing_time":
      45437, "queue_group": "q", "subject": "svc.fail"}, {..."name": "double"...}], "id":
      "8qmSB6p7E0KNGfsluxPOLv", "metadata": {"lang": "python"}, "name": "pysvc", "started":
      "2026-12-06T06:35:07.637Z", "type": "io.nats.micro.v1.stats_response", "version":
      "1.2.3"}]}
    Against a spec-following service whose `started` has 9 fraction digits, nats_py_parse's
    "stats" entry reads "ValueError: time data '...' does not match format
    '%Y-%m-%dT%H:%M:%S.%fZ'"; with 3 digits but no `data`, "KeyError: 'data'".

check
    Runs `discover` and compares it with what a service following the spec's section 6 must
    answer, for the expected service: RUST_SERVICE by default (the Rust side must build exactly
    that), PYTHON_SERVICE with --python (what `serve` builds); the version is DEFAULT_VERSION
    unless --version is given, the name the one on the command line. Exactly one instance must
    answer. Checked:
      - each verb: exactly one answer, a JSON object with exactly the keys of its type (ping:
        type name id version metadata; info: + description endpoints; stats: + started
        endpoints), type io.nats.micro.v1.{ping,info,stats}_response, name, version, metadata
        (an object, equal to the expected one), id a non-empty string without . * > or space,
        the same in all three;
      - the three subject forms: the instance answers $SRV.<VERB>, $SRV.<VERB>.<name> and
        $SRV.<VERB>.<name>.<id> for each verb;
      - INFO: description; endpoints exactly echo, fail, double (in any order, no duplicates),
        each with exactly name subject queue_group metadata, subject and queue_group as in
        ENDPOINTS (the default queue group is "q"), metadata as in ENDPOINTS (null or {} both
        accepted where none is expected);
      - STATS: started is RFC 3339 in UTC ("Z" or "+00:00") and not in the future; endpoints
        as in INFO (name, subject, queue_group), each with num_requests, num_errors,
        processing_time, average_processing_time integers >= 0, num_errors <= num_requests,
        last_error a string, average_processing_time = processing_time / num_requests
        (integer ns, within 1) or 0 with no requests, `data` absent or null (no stats
        handler), no other keys; echo: num_requests >= 1, num_errors 0, last_error "";
        double: num_requests >= 1, num_errors 0; fail: num_requests >= 1, num_errors >= 1,
        last_error "418:teapot";
      - the calls: echo replied "hello", double "42", both without Nats-Service-Error
        headers; fail replied with Nats-Service-Error "teapot" and Nats-Service-Error-Code
        "418".
    Prints `ok`, or exits 1 with one line per mismatch on stderr, then the discover JSON.
    The endpoint subjects are fixed, so during a check no other service may listen on them:
    a nats-py `serve` and the Rust service on one server share queue groups "q" and
    "math-workers", the calls are split between them, and check fails (tried).

What nats-py 2.16.0's micro does (read from nats/micro/service.py and request.py, and tried):
- `started`: written as datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", i.e.
  always exactly 3 fraction digits (milliseconds, ".000" included) and "Z". Parsing
  (ServiceStats.from_dict) uses strptime "%Y-%m-%dT%H:%M:%S.%fZ": a fraction of 1 to 6 digits
  and a literal "Z" are REQUIRED, so Go's RFC3339Nano (up to 9 digits, none at a whole
  second) or an offset "+00:00" makes nats-py's parser raise ValueError.
- STATS `data`: nats-py always writes "data": null per endpoint, and EndpointStats.from_dict
  reads data["data"], so it raises KeyError on a STATS answer that omits `data` (as nats.go
  does without a stats handler, and the spec prescribes). Likewise EndpointInfo.from_dict
  and ServiceInfo/ServiceStats.from_dict require `metadata` and `queue_group` keys.
  `check` only reports these parses (nats_py_parse), it does not fail on them.
- INFO `description`: null when the service has none (the spec says send "").
- Endpoint `metadata`: null when none is given (as nats.go).
- Queue group: default "q" (DEFAULT_QUEUE_GROUP); `queue_group or "q"` everywhere, so an
  empty string cannot disable it: nats-py cannot subscribe an endpoint without a queue group.
  Precedence endpoint > group > service > "q"; a group's queue group is inherited by its
  endpoints and nested groups. Group subjects: "<group>.<subject or name>".
- Errors: headers "Nats-Service-Error" (the description) and "Nats-Service-Error-Code" (the
  code); the code is a str throughout (ServiceError.code: str, respond_error(code: str));
  an int crashes publish (it calls .strip() on header values). Only an exception raised by
  the handler is counted: ServiceError(code, desc) -> respond_error(code, desc),
  num_errors += 1, last_error = "<code>:<desc>"; any other exception -> code "500",
  description repr(exc). Calling request.respond_error() yourself sends the headers but does
  NOT count in num_errors/last_error. last_error is "" until the first error.
- Subject forms: each instance makes the 9 plain subscriptions (no queue group):
  $SRV.<VERB>, $SRV.<VERB>.<name>, $SRV.<VERB>.<name>.<id> for PING, INFO, STATS. There is
  no SCHEMA verb. The prefix "$SRV" cannot be changed through the public API.
- id: client._nuid.next() of the connection, a NUID (22 characters of [0-9A-Za-z]).
- processing_time: ns from perf_counter_ns around the handler; average_processing_time is
  int(processing_time / num_requests). num_requests counts at the start of a request.
- Service.reset() only resets `started`; the counters are never reset (Endpoint._reset
  exists but is not called, and would set average_processing_time to a timedelta).
- stop() unsubscribes the endpoints (no drain) and drains the 9 verb subscriptions.
- PING carries `metadata` too; STATS endpoints carry no `metadata`.

Any unexpected error exits non-zero with the exception on stderr.
"""

import asyncio
import json
import os
import re
import signal
import stat
import sys
from datetime import datetime, timedelta, timezone

import nats
from nats.micro import add_service
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER, ServiceError
from nats.micro.service import ServiceInfo, ServicePing, ServiceStats

# ---- What the Rust service must be (mirror these strings exactly) -----------------------------

RUST_SERVICE = {
    "description": "rust interop service",
    "metadata": {"lang": "rust"},
}

# What `serve` builds (and `check --python` expects).
PYTHON_SERVICE = {
    "description": "python interop service",
    "metadata": {"lang": "python"},
}

# The version `check` expects unless --version is given.
DEFAULT_VERSION = "1.2.3"

# Endpoint name -> what INFO and STATS must say about it. `double` is in group "math", whose
# queue group "math-workers" it inherits; a metadata of None means "none": null or {}.
ENDPOINTS = {
    "echo": {"subject": "svc.echo", "queue_group": "q", "metadata": {"kind": "echo"}},
    "fail": {"subject": "svc.fail", "queue_group": "q", "metadata": None},
    "double": {"subject": "math.double", "queue_group": "math-workers", "metadata": None},
}
GROUP = "math"
GROUP_QUEUE = "math-workers"

# The calls `discover` makes: endpoint -> (request payload, expected reply payload or None,
# expected error (code, description) or None).
CALLS = {
    "echo": ("hello", "hello", None),
    "double": ("21", "42", None),
    "fail": ("boom", None, ("418", "teapot")),
}
FAIL_ERROR = ("418", "teapot")

TYPES = {
    "PING": "io.nats.micro.v1.ping_response",
    "INFO": "io.nats.micro.v1.info_response",
    "STATS": "io.nats.micro.v1.stats_response",
}
IDENTITY_KEYS = {"type", "name", "id", "version", "metadata"}
KEYS = {
    "PING": IDENTITY_KEYS,
    "INFO": IDENTITY_KEYS | {"description", "endpoints"},
    "STATS": IDENTITY_KEYS | {"started", "endpoints"},
}
INFO_ENDPOINT_KEYS = {"name", "subject", "queue_group", "metadata"}
STATS_ENDPOINT_KEYS = {
    "name",
    "subject",
    "queue_group",
    "num_requests",
    "num_errors",
    "last_error",
    "processing_time",
    "average_processing_time",
}
STATS_OPTIONAL_KEYS = {"data"}

PREFIX = "$SRV"
WINDOW = 1.0  # seconds to collect answers to one discovery request
REQUEST_TIMEOUT = 5  # seconds for one endpoint call or by-id request
TIMEOUT = 30  # seconds for discover/check; the harness kills the process later than this
RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


async def connect(url):
    async def report(e):  # one line per failed attempt instead of nats-py's traceback
        print(f"nats-py: {e!r}", file=sys.stderr)

    # allow_reconnect=False alone still retries the first connect for a minute or two;
    # max_reconnect_attempts=1 fails after two tries.
    return await nats.connect(
        url,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.2,
        connect_timeout=5,
        error_cb=report,
    )


# ---- serve ------------------------------------------------------------------------------------


async def echo(request):
    await request.respond(request.data)


async def fail(request):
    # Raised, not request.respond_error(): only a raised error counts in nats-py's stats.
    raise ServiceError(*FAIL_ERROR)


async def double(request):
    try:
        n = int(request.data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ServiceError("400", "not an integer") from None
    await request.respond(str(2 * n).encode())


def watch_stdin(stop):
    """Sets `stop` at EOF on stdin, when stdin is something that can reach EOF later."""
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)):
        return  # /dev/null or a regular file: EOF at once, so time alone ends the service

    loop = asyncio.get_running_loop()

    def readable():
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)


async def serve(nc, name, version, seconds):
    svc = await add_service(
        nc,
        name=name,
        version=version,
        description=PYTHON_SERVICE["description"],
        metadata=dict(PYTHON_SERVICE["metadata"]),
    )
    await svc.add_endpoint(
        name="echo",
        subject=ENDPOINTS["echo"]["subject"],
        handler=echo,
        metadata=dict(ENDPOINTS["echo"]["metadata"]),
    )
    await svc.add_endpoint(name="fail", subject=ENDPOINTS["fail"]["subject"], handler=fail)
    math = svc.add_group(name=GROUP, queue_group=GROUP_QUEUE)
    await math.add_endpoint(name="double", handler=double)
    await nc.flush()
    print(json.dumps({"ready": True, "id": svc.id}, sort_keys=True), flush=True)

    stop = asyncio.Event()
    watch_stdin(stop)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
    await svc.stop()
    print(json.dumps({"stopped": True}), flush=True)


# ---- discover ---------------------------------------------------------------------------------


def parse(data):
    try:
        return json.loads(data)
    except ValueError:
        return {"unparsable": data.decode("utf-8", "replace")}


def control(verb, name=None, id=None):
    return ".".join([PREFIX, verb] + [t for t in (name, id) if t is not None])


async def collect(nc, subject, window=WINDOW):
    """Every answer to one request on `subject` within `window` seconds (no responders: [])."""
    inbox = nc.new_inbox()
    got = []

    async def on_msg(msg):
        if not msg.data and msg.headers and msg.headers.get("Status"):
            return  # 503 no responders from the server
        got.append(parse(msg.data))

    sub = await nc.subscribe(inbox, cb=on_msg)
    try:
        await nc.publish(subject, b"", reply=inbox)
        await nc.flush()
        await asyncio.sleep(window)
    finally:
        await sub.unsubscribe()
    return got


async def request_one(nc, subject):
    """The first answer to a request on `subject`, or None when nobody answers."""
    try:
        return parse((await nc.request(subject, b"", timeout=REQUEST_TIMEOUT)).data)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return None


def ids(answers, name):
    return sorted(
        a.get("id")
        for a in answers
        if isinstance(a, dict) and a.get("name") == name and isinstance(a.get("id"), str)
    )


async def call(nc, subject, payload):
    out = {"subject": subject, "request": payload}
    try:
        msg = await nc.request(subject, payload.encode(), timeout=REQUEST_TIMEOUT)
    except Exception as e:  # noqa: BLE001 -- reported, and `check` fails on it
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    out["reply"] = msg.data.decode("utf-8", "replace")
    out["headers"] = dict(msg.headers) if msg.headers else None
    return out


def nats_py_parses(cls, answer):
    try:
        cls.from_dict(answer)
        return "ok"
    except Exception as e:  # noqa: BLE001 -- information only
        return f"{type(e).__name__}: {e}"


async def verb_forms(nc, verb, name):
    """(by-name answers, {"all": ids, "name": ids}) for one verb, collected concurrently."""
    by_name, everyone = await asyncio.gather(
        collect(nc, control(verb, name)), collect(nc, control(verb))
    )
    return by_name, {"all": ids(everyone, name), "name": ids(by_name, name)}


async def by_id(nc, verb, name, instance_ids):
    answered = []
    for i in instance_ids:
        a = await request_one(nc, control(verb, name, i))
        if isinstance(a, dict) and a.get("id") == i:
            answered.append(i)
    return answered


async def discover(nc, name):
    out = {"forms": {}, "calls": {}}
    (ping, ping_forms), (info, info_forms) = await asyncio.gather(
        verb_forms(nc, "PING", name), verb_forms(nc, "INFO", name)
    )
    out["ping"], out["info"] = ping, info
    out["forms"]["PING"], out["forms"]["INFO"] = ping_forms, info_forms
    instance_ids = ping_forms["name"]
    ping_forms["id"] = await by_id(nc, "PING", name, instance_ids)
    info_forms["id"] = await by_id(nc, "INFO", name, instance_ids)

    endpoints = {}
    for answer in info:
        listed = answer.get("endpoints") if isinstance(answer, dict) else None
        for e in listed if isinstance(listed, list) else []:
            if isinstance(e, dict) and isinstance(e.get("name"), str):
                endpoints.setdefault(e["name"], e.get("subject"))
    for ep, subject in sorted(endpoints.items()):
        if ep not in CALLS or not isinstance(subject, str):
            out["calls"][ep] = {"subject": subject, "skipped": True}
            continue
        out["calls"][ep] = await call(nc, subject, CALLS[ep][0])

    stats, stats_forms = await verb_forms(nc, "STATS", name)
    stats_forms["id"] = await by_id(nc, "STATS", name, instance_ids)
    out["stats"], out["forms"]["STATS"] = stats, stats_forms

    out["nats_py_parse"] = {
        "ping": [nats_py_parses(ServicePing, a) for a in ping],
        "info": [nats_py_parses(ServiceInfo, a) for a in info],
        "stats": [nats_py_parses(ServiceStats, a) for a in stats],
    }
    return out


# ---- check ------------------------------------------------------------------------------------


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse_started(s):
    """An aware datetime from an RFC 3339 string, or None."""
    m = RFC3339.match(s) if isinstance(s, str) else None
    if not m:
        return None
    base, fraction, zone = m.groups()
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    tz = timezone.utc
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(microsecond=micros, tzinfo=tz)
    except ValueError:
        return None


def metadata_ok(got, want):
    if want is None:
        return got is None or got == {}
    return got == want


def check(got, name, expected, version):
    """The list of mismatches (empty when all is well)."""
    bad = []

    answers = {"PING": got["ping"], "INFO": got["info"], "STATS": got["stats"]}
    seen_ids = set()
    for verb, lst in answers.items():
        if len(lst) != 1:
            bad.append(f"{verb}: {len(lst)} answers to {control(verb, name)}, expected 1")
        for a in lst:
            where = f"{verb}"
            if not isinstance(a, dict) or "unparsable" in a:
                bad.append(f"{where}: not a JSON object: {a!r}")
                continue
            keys = set(a)
            allowed = KEYS[verb]
            if allowed - keys:
                bad.append(f"{where}: missing keys {sorted(allowed - keys)}")
            if keys - allowed:
                bad.append(f"{where}: unexpected keys {sorted(keys - allowed)}")
            if a.get("type") != TYPES[verb]:
                bad.append(f"{where}: type {a.get('type')!r}, expected {TYPES[verb]!r}")
            if a.get("name") != name:
                bad.append(f"{where}: name {a.get('name')!r}, expected {name!r}")
            if a.get("version") != version:
                bad.append(f"{where}: version {a.get('version')!r}, expected {version!r}")
            if not isinstance(a.get("metadata"), dict):
                bad.append(f"{where}: metadata {a.get('metadata')!r} is not an object")
            elif a["metadata"] != expected["metadata"]:
                want = expected["metadata"]
                bad.append(f"{where}: metadata {a['metadata']!r}, expected {want!r}")
            i = a.get("id")
            if not isinstance(i, str) or not i or re.search(r"[.*> \t\r\n]", i):
                bad.append(f"{where}: id {i!r} is not a non-empty subject token")
            else:
                seen_ids.add(i)
    if len(seen_ids) > 1:
        bad.append(f"ids differ across PING/INFO/STATS: {sorted(seen_ids)}")

    for verb, forms in got["forms"].items():
        for i in sorted(seen_ids):
            for form, subject in (
                ("all", control(verb)),
                ("name", control(verb, name)),
                ("id", control(verb, name, i)),
            ):
                if i not in forms.get(form, []):
                    bad.append(f"{verb}: instance {i} did not answer on {subject}")

    for a in got["info"]:
        if not isinstance(a, dict) or "unparsable" in a:
            continue
        if a.get("description") != expected["description"]:
            bad.append(
                f"INFO: description {a.get('description')!r}, "
                f"expected {expected['description']!r}"
            )
        bad += check_endpoints("INFO", a.get("endpoints"), INFO_ENDPOINT_KEYS, set())

    for a in got["stats"]:
        if not isinstance(a, dict) or "unparsable" in a:
            continue
        started = parse_started(a.get("started"))
        if started is None:
            bad.append(f"STATS: started {a.get('started')!r} is not RFC 3339")
        else:
            if started.utcoffset() != timedelta(0):
                bad.append(f"STATS: started {a['started']!r} is not UTC")
            if started > datetime.now(timezone.utc) + timedelta(seconds=5):
                bad.append(f"STATS: started {a['started']!r} is in the future")
        bad += check_endpoints(
            "STATS", a.get("endpoints"), STATS_ENDPOINT_KEYS, STATS_OPTIONAL_KEYS
        )

    bad += check_calls(got["calls"])
    return bad


def check_endpoints(verb, endpoints, keys, optional):
    bad = []
    if not isinstance(endpoints, list):
        return [f"{verb}: endpoints {endpoints!r} is not an array"]
    by_name = {}
    for e in endpoints:
        if not isinstance(e, dict):
            bad.append(f"{verb}: endpoint {e!r} is not an object")
            continue
        n = e.get("name")
        if n in by_name:
            bad.append(f"{verb}: endpoint {n!r} listed twice")
        by_name[n] = e
    names = set(by_name)
    if names != set(ENDPOINTS):
        bad.append(f"{verb}: endpoints {sorted(map(str, names))}, expected {sorted(ENDPOINTS)}")
    for n, e in sorted(by_name.items(), key=lambda kv: str(kv[0])):
        where = f"{verb}: endpoint {n!r}"
        present = set(e)
        if keys - present:
            bad.append(f"{where}: missing keys {sorted(keys - present)}")
        if present - keys - optional:
            bad.append(f"{where}: unexpected keys {sorted(present - keys - optional)}")
        want = ENDPOINTS.get(n)
        if want is None:
            continue
        for k in ("subject", "queue_group"):
            if e.get(k) != want[k]:
                bad.append(f"{where}: {k} {e.get(k)!r}, expected {want[k]!r}")
        if verb == "INFO":
            if not metadata_ok(e.get("metadata"), want["metadata"]):
                what = want["metadata"] if want["metadata"] is not None else "null or {}"
                bad.append(f"{where}: metadata {e.get('metadata')!r}, expected {what!r}")
        else:
            bad += check_endpoint_stats(where, n, e)
    return bad


def check_endpoint_stats(where, name, e):
    bad = []
    counts = ("num_requests", "num_errors", "processing_time", "average_processing_time")
    for k in counts:
        if not is_int(e.get(k)) or e[k] < 0:
            bad.append(f"{where}: {k} {e.get(k)!r} is not an integer >= 0")
    if not isinstance(e.get("last_error"), str):
        bad.append(f"{where}: last_error {e.get('last_error')!r} is not a string")
    if e.get("data") is not None:
        bad.append(f"{where}: data {e['data']!r}, expected absent or null (no stats handler)")
    if not all(is_int(e.get(k)) for k in counts):
        return bad
    requests, errors = e["num_requests"], e["num_errors"]
    if errors > requests:
        bad.append(f"{where}: num_errors {errors} > num_requests {requests}")
    average = e["average_processing_time"]
    if requests == 0:
        if average != 0 or e["processing_time"] != 0:
            total = e["processing_time"]
            bad.append(f"{where}: processing times {total}/{average} with no requests")
    elif abs(average - e["processing_time"] / requests) > 1:
        bad.append(
            f"{where}: average_processing_time {average}, expected processing_time / "
            f"num_requests = {e['processing_time']} / {requests}"
        )
    if requests < 1:
        bad.append(f"{where}: num_requests {requests}, expected >= 1 after the calls")
    if name in ("echo", "double"):
        if errors != 0:
            bad.append(f"{where}: num_errors {errors}, expected 0")
        if name == "echo" and e.get("last_error") != "":
            bad.append(f"{where}: last_error {e.get('last_error')!r}, expected ''")
    elif name == "fail":
        if errors < 1:
            bad.append(f"{where}: num_errors {errors}, expected >= 1 after the calls")
        want = f"{FAIL_ERROR[0]}:{FAIL_ERROR[1]}"
        if e.get("last_error") != want:
            bad.append(f"{where}: last_error {e.get('last_error')!r}, expected {want!r}")
    return bad


def check_calls(calls):
    bad = []
    for ep, (payload, reply, error) in CALLS.items():
        c = calls.get(ep)
        where = f"call {ep}"
        if c is None:
            bad.append(f"{where}: not made (endpoint missing from INFO)")
            continue
        if "error" in c or c.get("skipped"):
            bad.append(f"{where}: {c.get('error', 'skipped')}")
            continue
        headers = c.get("headers") or {}
        if error is None:
            if c.get("reply") != reply:
                got = c.get("reply")
                bad.append(f"{where} with {payload!r}: reply {got!r}, expected {reply!r}")
            for h in (ERROR_HEADER, ERROR_CODE_HEADER):
                if h in headers:
                    bad.append(f"{where}: unexpected header {h}: {headers[h]!r}")
        else:
            code, description = error
            if headers.get(ERROR_HEADER) != description:
                got = headers.get(ERROR_HEADER)
                bad.append(f"{where}: {ERROR_HEADER} {got!r}, expected {description!r}")
            if headers.get(ERROR_CODE_HEADER) != code:
                got = headers.get(ERROR_CODE_HEADER)
                bad.append(f"{where}: {ERROR_CODE_HEADER} {got!r}, expected {code!r}")
    return bad


# ---- main -------------------------------------------------------------------------------------


async def main(command, url, name, args):
    """Runs one subcommand; returns None, or the message to exit non-zero with."""
    nc = await connect(url)
    try:
        if command == "serve":
            version, seconds = args
            await serve(nc, name, version, float(seconds))
        elif command == "discover":
            print(json.dumps(await discover(nc, name), sort_keys=True))
        elif command == "check":
            python = "--python" in args
            version = args[args.index("--version") + 1] if "--version" in args else DEFAULT_VERSION
            expected = PYTHON_SERVICE if python else RUST_SERVICE
            got = await discover(nc, name)
            bad = check(got, name, expected, version)
            if bad:
                return "\n".join(bad) + "\ndiscover: " + json.dumps(got, sort_keys=True)
            print("ok")
    finally:
        await nc.close()
    return None


USAGE = """usage: {0} serve    <url> <name> <version> <seconds>
       {0} discover <url> <name>
       {0} check    <url> <name> [--python] [--version <v>]"""


def parse_args(argv):
    """(command, url, name, extra args), or None when the usage is wrong."""
    if len(argv) < 4:
        return None
    command, url, name, args = argv[1], argv[2], argv[3], argv[4:]
    if command == "serve":
        if len(args) != 2:
            return None
        try:
            if float(args[1]) <= 0:
                return None
        except ValueError:
            return None
    elif command == "discover":
        if args:
            return None
    elif command == "check":
        rest = list(args)
        if "--python" in rest:
            rest.remove("--python")
        if "--version" in rest:
            i = rest.index("--version")
            if i + 1 >= len(rest):
                return None
            del rest[i : i + 2]
        if rest:
            return None
    else:
        return None
    return command, url, name, args


if __name__ == "__main__":
    parsed = parse_args(sys.argv)
    if parsed is None:
        sys.exit(USAGE.format(sys.argv[0]))
    limit = TIMEOUT
    if parsed[0] == "serve":
        limit = float(parsed[3][1]) + TIMEOUT
    sys.exit(asyncio.run(asyncio.wait_for(main(*parsed), limit)))

"""The base of the loopback fakes under Tests/Fakes (Python standard library only, Python >= 3.9).

A fake subclasses :class:`Fake`, answers its vendor's calls in :meth:`Fake.handle` (or takes over
:meth:`Fake.serve` when faults must act inside its own logic), adds its own controls in
:meth:`Fake.control`, and runs with :func:`run`. The base gives it:

* an HTTP/1.1 server bound to 127.0.0.1 only (any other host is refused), keep-alive, ``TCP_NODELAY`` on
  every accepted socket, and each answer written with ONE ``sendall`` (status line, headers and body built
  in memory), so a client never sees a half answer and no answer waits on Nagle's algorithm;
* a request log on stderr, one line per request: ``<name> <METHOD> <path without query> -> <status>
  <elapsed>ms<note>`` (the query, the headers and the body are never logged: they may hold secrets);
* a fault queue (:class:`FaultQueue`), matched by method, path prefix and count, with the kinds
  ``status``, ``retry_after``, ``delay``, ``drop`` and ``garbage`` (plus any kinds a fake adds); ``phase``
  ``"after"`` lets the call run first and then replaces (or drops) its answer: a lost answer; a fake whose
  faults match on what only its own logic knows queues its own fault class (``fault_class``, ``take_first``);
* a controllable clock (:class:`Clock`) the fake uses for its time stamps;
* a call log (:class:`CallLog`), each entry with the number of the TCP connection it came on;
* the standard controls under ``/__fake__/`` (JSON bodies, no credentials): ``fault`` (POST adds one
  fault or a list, GET lists, DELETE clears), ``clock`` (GET; POST ``{"now": unix}`` freezes,
  ``{"advance": s}`` moves, ``{"real": true}`` back to wall time), ``calls`` (GET, DELETE), ``reset``;
* :func:`run`: the first stdout line ``listening 127.0.0.1:PORT`` (flushed; port 0 picks a free one) and a
  clean stop on SIGTERM or SIGINT. :func:`serve_in_thread` runs a fake inside a test process.

Use from a fake in a sibling folder (Tests/Fakes/<vendor>/fake_<vendor>.py)::

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from common.loopback import Fake, Reply, run

See Tests/Fakes/README.md.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Optional
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
CONTROL_PREFIX = "/__fake__/"
# 200 with a body no JSON parser accepts: JSON cut short, then a proxy's HTML page. Valid UTF-8 on purpose:
# stripe-python 16.1.0 decodes every body as UTF-8 for its debug log, so bytes that are not UTF-8 made it raise
# a bare UnicodeDecodeError instead of its "Invalid response body from API" (a client quirk, not a wire case).
GARBAGE = b'{"object": "list", "data": [{"id": <html><body><h1>502 Bad Gateway</h1></body></html>\n'


# ---------------------------------------------------------------------------------------------
# Requests and replies
# ---------------------------------------------------------------------------------------------


class Reply:
    """One answer: status, body (bytes), content type and extra headers; ``drop`` closes the connection
    without answering; ``close`` answers with ``Connection: close`` and then closes."""

    __slots__ = ("status", "body", "content_type", "headers", "drop", "close")

    def __init__(self, status: int = 200, body=b"", content_type: str = "application/json", headers=None,
                 drop: bool = False, close: bool = False):
        self.status = status
        self.body = body if isinstance(body, bytes) else str(body).encode("utf-8")
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.drop, self.close = drop, close

    @classmethod
    def json(cls, status: int, value, headers=None, indent: Optional[int] = None,
             content_type: str = "application/json") -> "Reply":
        return cls(status, json.dumps(value, indent=indent).encode("utf-8"), content_type, headers)

    @classmethod
    def dropped(cls) -> "Reply":
        return cls(0, drop=True)


class Request:
    """One request as the fake sees it. ``note`` is appended to its request-log line (never put secrets
    in it); ``fault`` is the fault taken for it, if any; ``connection`` numbers the TCP connections the
    server accepted, so a call log shows keep-alive at work."""

    def __init__(self, method: str, target: str, headers, body: bytes, connection: int = 0):
        url = urlsplit(target)
        self.method, self.target, self.path, self.query = method, target, url.path, url.query
        self.connection = connection  # the server's number of the TCP connection it came on (1, 2, …)
        self.headers = headers  # an email.message.Message: case-insensitive .get(name)
        self.body = body
        self.note = ""
        self.fault: Optional[Fault] = None

    def json(self):
        """The body as JSON; an empty body is ``{}``. Raises ValueError."""
        text = self.body.decode("utf-8")
        return json.loads(text) if text.strip() else {}


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


class FaultSpecError(ValueError):
    """A fault the queue refuses; the control answers 400 with its message."""


BASE_KINDS = ("status", "retry_after", "delay", "drop", "garbage")
BASE_FIELDS = ("kind", "count", "method", "path", "phase", "status", "body", "content_type", "headers",
               "retry_after", "ms", "seconds")
AFTER_KINDS = ("status", "retry_after", "drop", "garbage")  # the kinds that may act after the call ran


def _number(value, name, minimum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultSpecError(f"field '{name}' must be a number; got {value!r}")
    if minimum is not None and value < minimum:
        raise FaultSpecError(f"field '{name}' must be at least {minimum}; got {value!r}")
    return value


def _header_text(value, name):
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise FaultSpecError(f"{name} must be a string without line breaks; got {value!r}")
    return value


class Fault:
    """One queued fault: its spec (as posted) and how many more requests it hits."""

    def __init__(self, spec: dict):
        self.spec = {k: v for k, v in spec.items() if k != "count"}
        self.kind = spec["kind"]
        self.method = spec.get("method")
        self.path = spec.get("path") or ""
        self.phase = spec.get("phase") or "before"  # "after": the call runs, then the fault replaces its answer
        self.remaining = spec.get("count", 1)

    def get(self, name, default=None):
        value = self.spec.get(name)
        return default if value is None else value

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and path.startswith(self.path)

    def describe(self) -> dict:
        return {"count": self.remaining, **self.spec}

    def delay_seconds(self, default: float = 1.0) -> float:
        """``ms`` or ``seconds`` (a ``delay`` fault); ``default`` when neither is given."""
        if self.spec.get("ms") is not None:
            return self.spec["ms"] / 1000.0
        if self.spec.get("seconds") is not None:
            return float(self.spec["seconds"])
        return default

    def reply(self, error_reply: Callable[[int, str, dict], Reply]) -> Optional[Reply]:
        """The answer of a base kind that answers instead of the fake (``status``, ``retry_after``, ``drop``,
        ``garbage``); None for ``delay`` and for the fake's own kinds. ``error_reply(status, message,
        headers)`` shapes an error like the vendor when the fault gives no body."""
        kind = self.kind
        if kind == "drop":
            return Reply.dropped()
        if kind == "garbage":
            return Reply(self.get("status", 200), GARBAGE, self.get("content_type", "application/json"),
                         self.get("headers", {}))
        if kind not in ("status", "retry_after"):
            return None
        status = self.get("status", 429 if kind == "retry_after" else None)
        headers = dict(self.get("headers", {}))
        if kind == "retry_after":
            headers["Retry-After"] = str(self.get("retry_after", 1))
        elif self.spec.get("retry_after") is not None:
            headers["Retry-After"] = str(self.spec["retry_after"])
        body = self.spec.get("body")
        if body is None:
            reply = error_reply(status, f"HTTP {status} (a fault queued on the fake)", headers)
            if self.spec.get("content_type"):
                reply.content_type = self.spec["content_type"]
            return reply
        if isinstance(body, (dict, list)):
            return Reply(status, json.dumps(body).encode("utf-8"), self.get("content_type", "application/json"), headers)
        return Reply(status, body.encode("utf-8"), self.get("content_type", "text/plain; charset=utf-8"), headers)


class FaultQueue:
    """Faults in the order queued. ``take(method, path)`` gives the first that matches (its method, when
    set, equals; its path, when set, is a prefix of the request's path) and counts it down; at zero it is
    gone. A fake adds kinds with ``kinds`` and fields with ``fields``; ``check(spec)`` may refuse a spec
    by raising FaultSpecError.

    A fake whose faults match on something else than the HTTP method and path (fake_odoo: transport,
    service, model and model method, known only once the body is read) keeps its own fault class in the
    queue: a subclass sets ``fault_class`` (built from the spec; it needs ``remaining`` and ``describe()``),
    may replace ``validate``, and takes with ``take_first(predicate)``."""

    fault_class = None  # None: Fault; a subclass may hold its own class of faults

    def __init__(self, kinds: Iterable[str] = (), fields: Iterable[str] = (), check=None):
        self.kinds = tuple(kinds) + tuple(k for k in BASE_KINDS if k not in tuple(kinds))
        self.fields = set(BASE_FIELDS) | set(fields)
        self.check = check
        self.lock = threading.Lock()
        self.queue: list = []

    def validate(self, spec) -> dict:
        if not isinstance(spec, dict):
            raise FaultSpecError(f"a fault is a JSON object; got {spec!r}")
        kind = spec.get("kind")
        if kind not in self.kinds:
            raise FaultSpecError(f"field 'kind' must be one of {', '.join(self.kinds)}; got {kind!r}")
        unknown = set(spec) - self.fields
        if unknown:
            raise FaultSpecError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        count = spec.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FaultSpecError(f"field 'count' must be a whole number of at least 1; got {count!r}")
        if spec.get("method") is not None and not (isinstance(spec["method"], str) and spec["method"].isalpha()):
            raise FaultSpecError(f"field 'method' must be an HTTP method such as GET or POST; got {spec['method']!r}")
        if spec.get("path") is not None and not (isinstance(spec["path"], str) and spec["path"].startswith("/")):
            raise FaultSpecError(f"field 'path' must be a path prefix starting with /; got {spec['path']!r}")
        status = spec.get("status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
            raise FaultSpecError(f"field 'status' must be an HTTP status 100-599; got {status!r}")
        if kind == "status" and status is None:
            raise FaultSpecError("a 'status' fault needs field 'status'")
        if spec.get("phase") not in (None, "before", "after"):
            raise FaultSpecError(f"field 'phase' must be 'before' or 'after'; got {spec['phase']!r}")
        if spec.get("phase") == "after" and kind not in AFTER_KINDS:
            raise FaultSpecError(f"field 'phase' 'after' goes with the kinds {', '.join(AFTER_KINDS)}; not {kind!r}")
        if kind == "retry_after" and status not in (None, 429, 503):
            raise FaultSpecError(f"a 'retry_after' fault answers 429 or 503; got status {status!r}")
        if spec.get("retry_after") is not None:
            value = spec["retry_after"]
            if isinstance(value, str):
                _header_text(value, "field 'retry_after'")
            else:
                _number(value, "retry_after", 0)
        for name in ("ms", "seconds"):
            if spec.get(name) is not None:
                _number(spec[name], name, 0)
        if spec.get("body") is not None and not isinstance(spec["body"], (str, dict, list)):
            raise FaultSpecError("field 'body' must be a string or JSON (an object or a list)")
        if spec.get("content_type") is not None:
            _header_text(spec["content_type"], "field 'content_type'")
        headers = spec.get("headers")
        if headers is not None:
            if not isinstance(headers, dict):
                raise FaultSpecError("field 'headers' must be an object of header names to values")
            for name, value in headers.items():
                if not name or not all(c.isalnum() or c in "-_" for c in name):
                    raise FaultSpecError(f"header name {name!r} is not a token")
                _header_text(value, f"header {name}")
        if self.check:
            self.check(spec)
        return spec

    def add(self, specs) -> list:
        """One spec or a list: all checked first, then all queued (none when one is refused)."""
        make = self.fault_class or Fault
        faults = [make(self.validate(spec)) for spec in (specs if isinstance(specs, list) else [specs])]
        with self.lock:
            self.queue.extend(faults)
            return [f.describe() for f in self.queue]

    def take(self, method: str, path: str) -> Optional[Fault]:
        return self.take_first(lambda fault: fault.matches(method, path))

    def take_first(self, predicate: Callable[[Fault], bool]):
        """The first fault for which ``predicate(fault)`` holds, counted down (gone at zero); None if none."""
        with self.lock:
            for fault in self.queue:
                if predicate(fault):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.queue.remove(fault)
                    return fault
        return None

    def pending(self) -> list:
        with self.lock:
            return [f.describe() for f in self.queue]

    def clear(self):
        with self.lock:
            self.queue.clear()


# ---------------------------------------------------------------------------------------------
# Clock and call log
# ---------------------------------------------------------------------------------------------


class Clock:
    """Wall time, unless a test froze it or moved it. ``now()`` is whole Unix seconds (what vendors put in
    ``created``), ``time()`` the same with fractions."""

    def __init__(self):
        self.lock = threading.Lock()
        self.frozen: Optional[float] = None
        self.offset = 0.0

    def time(self) -> float:
        with self.lock:
            return self.frozen if self.frozen is not None else time.time() + self.offset

    def now(self) -> int:
        return int(math.floor(self.time()))

    def reset(self):
        with self.lock:
            self.frozen, self.offset = None, 0.0

    def control(self, spec: dict) -> dict:
        """``{"now": unix}`` freezes the clock there, ``{"advance": s}`` moves it (frozen or not; negative
        goes back), ``{"real": true}`` returns to wall time; applied in that order."""
        if not isinstance(spec, dict) or not set(spec) <= {"now", "advance", "real"}:
            raise ValueError("the clock takes {\"now\": unix}, {\"advance\": seconds} or {\"real\": true}")
        now = spec.get("now")
        advance = spec.get("advance")
        for name, value in (("now", now), ("advance", advance)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
                raise ValueError(f"field '{name}' must be a number of seconds; got {value!r}")
        with self.lock:
            if now is not None:
                self.frozen = float(now)
            if advance is not None:
                if self.frozen is not None:
                    self.frozen += advance
                else:
                    self.offset += advance
            if spec.get("real"):
                self.frozen, self.offset = None, 0.0
        return self.describe()

    def describe(self) -> dict:
        return {"now": self.now(), "frozen": self.frozen is not None}


class CallLog:
    """The calls a fake answered, in order (dicts the fake shapes; the base's are method, path, query,
    status, fault, at). With ``limit``, a log longer than that forgets its oldest ``trim`` entries (default:
    down to ``limit``), so a long-running fake does not grow without end."""

    def __init__(self, limit: Optional[int] = None, trim: Optional[int] = None):
        self.lock = threading.Lock()
        self.entries: list = []
        self.limit, self.trim = limit, trim

    def add(self, entry: dict) -> dict:
        with self.lock:
            self.entries.append(entry)
            if self.limit is not None and len(self.entries) > self.limit:
                del self.entries[:self.trim or len(self.entries) - self.limit]
        return entry

    def list(self) -> list:
        with self.lock:
            return list(self.entries)

    def clear(self):
        with self.lock:
            self.entries.clear()


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------


class Fake:
    """Subclass it. ``name`` starts each request-log line; ``default_headers`` go on every answer;
    ``server_header`` is the ``Server`` header; ``json_indent`` formats the JSON the base writes.
    ``http_methods`` are the methods the fake serves: another one gets http.server's own 501 page
    ("Unsupported method"), as for a method no fake serves; ``error_server_header`` is the ``Server``
    header of the pages http.server writes itself (that 501, a bad request line's 400), None: http.server's.
    :func:`run` calls ``stopped()`` once the server has stopped (a fake flushes what it keeps there)."""

    name = "fake"
    server_header = "loopback-fake"
    default_headers: dict = {}
    json_indent: Optional[int] = None
    http_methods = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
    error_server_header: Optional[str] = None

    def __init__(self, fault_kinds: Iterable[str] = (), fault_fields: Iterable[str] = (), fault_check=None):
        self.clock = Clock()
        self.faults = FaultQueue(fault_kinds, fault_fields, fault_check)
        self.calls = CallLog()
        self.log_stream = None  # None: sys.stderr at the time of writing
        self._log_lock = threading.Lock()

    # -- what a fake overrides -------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """The fake's answer to one (non-control) request."""
        return self.error_reply(404, f"no route {request.method} {request.path}", {})

    def control(self, request: Request, name: str, spec) -> Optional[Reply]:
        """The fake's own control ``/__fake__/<name>``; None leaves it to the standard ones."""
        return None

    def stopped(self):
        """Called by :func:`run` after the server stopped (SIGTERM, SIGINT), before it returns."""

    def reset(self):
        """POST /__fake__/reset: faults, calls and the clock; a fake adds its own state (and calls this)."""
        self.faults.clear()
        self.calls.clear()
        self.clock.reset()

    def error_reply(self, status: int, message: str, headers: dict) -> Reply:
        """An error in the vendor's shape (used by faults that give no body)."""
        return self.json_reply(status, {"error": {"status": status, "message": message}}, headers)

    def bug_reply(self, exc: BaseException) -> Reply:
        """The answer when the fake itself raised: a 500 (the traceback goes to stderr)."""
        return self.error_reply(500, f"the fake failed: {type(exc).__name__} (traceback on its stderr)", {})

    def serve(self, request: Request) -> Reply:
        """A non-control request: the first matching fault acts (a ``delay`` waits, then the call runs; with
        ``phase: after`` the call runs and the fault replaces its answer), the call is logged, :meth:`handle`
        answers."""
        fault = request.fault = self.faults.take(request.method, request.path)
        entry = self.calls.add({"method": request.method, "path": request.path, "query": request.query,
                                "status": None, "fault": fault and fault.kind, "at": self.clock.time(),
                                "connection": request.connection})
        reply = None
        if fault:
            request.note += f" fault={fault.kind}" + (" (after the call)" if fault.phase == "after" else "")
            if fault.kind == "delay":
                time.sleep(fault.delay_seconds())
            elif fault.phase == "before":
                reply = fault.reply(self.error_reply)
        if reply is None:
            reply = self.handle(request)
            if fault and fault.phase == "after":
                reply = fault.reply(self.error_reply) or reply
        entry["status"] = None if reply.drop else reply.status
        return reply

    def json_reply(self, status: int, value, headers=None) -> Reply:
        return Reply.json(status, value, headers, indent=self.json_indent)

    # -- controls ---------------------------------------------------------------------------------

    def dispatch_control(self, request: Request) -> Reply:
        name = request.path[len(CONTROL_PREFIX):]
        try:
            spec = request.json()
        except ValueError as e:
            return self.json_reply(400, {"error": f"the body must be JSON: {e}"})
        try:
            reply = self.control(request, name, spec)
            return reply if reply is not None else self.standard_control(request, name, spec)
        except FaultSpecError as e:
            return self.json_reply(400, {"error": str(e)})
        except (TypeError, ValueError, KeyError) as e:
            return self.json_reply(400, {"error": f"bad control body for {name}: {e!r}"})

    def standard_control(self, request: Request, name: str, spec) -> Reply:
        method = request.method
        if name == "fault":
            if method == "POST":
                return self.json_reply(200, {"faults": self.faults.add(spec)})
            if method == "GET":
                return self.json_reply(200, {"faults": self.faults.pending()})
            if method == "DELETE":
                self.faults.clear()
                return self.json_reply(200, {"faults": []})
        if name == "clock":
            if method == "POST":
                return self.json_reply(200, self.clock.control(spec))
            if method == "GET":
                return self.json_reply(200, self.clock.describe())
        if name == "calls":
            if method == "GET":
                return self.json_reply(200, {"calls": self.calls.list()})
            if method == "DELETE":
                self.calls.clear()
                return self.json_reply(200, {"calls": []})
        if name == "reset" and method == "POST":
            self.reset()
            return self.json_reply(200, {"reset": True})
        return self.json_reply(404, {"error": f"no control {method} {request.path}; see the fake's README.md"})

    # -- the request log ----------------------------------------------------------------------------

    def log(self, request: Request, status, elapsed: float):
        line = f"{self.name} {request.method} {request.path} -> {status} {elapsed * 1000:.1f}ms{request.note}\n"
        stream = self.log_stream or sys.stderr
        with self._log_lock:
            try:
                stream.write(line)
                stream.flush()
            except (OSError, ValueError):
                pass


# ---------------------------------------------------------------------------------------------
# HTTP transport
# ---------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on the accepted socket (StreamRequestHandler.setup)
    server: "LoopbackServer"

    def setup(self):
        super().setup()
        self.connection_number = self.server.next_connection_number()

    def log_message(self, format, *args):  # the fake's own request log replaces http.server's
        pass

    def version_string(self):  # the Server header of http.server's own error pages (send_error)
        return self.server.fake.error_server_header or super().version_string()

    def do_GET(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    def do_PATCH(self):
        self._serve()

    def do_DELETE(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _serve(self):
        fake = self.server.fake
        if self.command not in fake.http_methods:  # as BaseHTTPRequestHandler for a method without do_<METHOD>
            self.send_error(501, "Unsupported method (%r)" % self.command)
            return
        started = time.monotonic()
        request = Request(self.command, self.path, self.headers, b"", self.connection_number)
        try:
            try:
                request.body = self._read_body()
            except ValueError:
                self.close_connection = True
                reply = Reply.json(400, {"error": "unreadable request body (Content-Length or chunks)"})
                reply.close = True
            else:
                if request.path.startswith(CONTROL_PREFIX):
                    reply = fake.dispatch_control(request)
                else:
                    reply = fake.serve(request)
        except Exception as exc:  # a bug in the fake: say so loudly, answer 500
            traceback.print_exc(file=sys.stderr)
            request.note += f" fake-bug={type(exc).__name__}"
            reply = fake.bug_reply(exc)
        # logged before the answer goes out: a client holding the answer finds its line already written
        fake.log(request, "dropped" if reply.drop else reply.status, time.monotonic() - started)
        self._send(reply, fake)

    def _send(self, reply: Reply, fake: Fake):
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if reply.close:
            self.close_connection = True
        reason = self.responses.get(reply.status, ("Unknown",))[0]
        fields = [("Server", fake.server_header), ("Date", self.date_time_string()),
                  ("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))]
        fields += list(fake.default_headers.items()) + list(reply.headers.items())
        if self.close_connection:
            fields.append(("Connection", "close"))
        elif self.request_version == "HTTP/1.0":
            fields.append(("Connection", "keep-alive"))
        head = f"{self.protocol_version} {reply.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
        data = head.encode("latin-1") + (b"" if self.command == "HEAD" else reply.body)
        try:
            self.connection.sendall(data)  # one write: the whole answer
        except OSError:
            self.close_connection = True


class LoopbackServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer on 127.0.0.1 only, serving ``fake``."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, fake: Fake, port: int = 0, host: str = LOOPBACK):
        if host != LOOPBACK:
            raise ValueError(f"a loopback fake binds {LOOPBACK} only; refused host {host!r}")
        self.fake = fake
        self._connections = 0
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def next_connection_number(self) -> int:
        with self._connections_lock:
            self._connections += 1
            return self._connections

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would resolve a name (getfqdn): not needed
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def run(fake: Fake, port: int = 0, banner: Optional[str] = None) -> int:
    """Serves ``fake`` until SIGTERM or SIGINT; the first stdout line is ``listening 127.0.0.1:PORT``. A
    ``banner`` (``{address}`` in it becomes 127.0.0.1:PORT) goes to stderr after it."""
    server = LoopbackServer(fake, port)

    def on_signal(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stdout.write(f"listening {LOOPBACK}:{server.port}\n")
    sys.stdout.flush()
    if banner:
        sys.stderr.write(banner.replace("{address}", f"{LOOPBACK}:{server.port}").rstrip("\n") + "\n")
        sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        fake.stopped()
    return 0


def serve_in_thread(fake: Fake, port: int = 0) -> LoopbackServer:
    """Serves ``fake`` from a daemon thread of this process (tests); stop with ``stop(server)``."""
    server = LoopbackServer(fake, port)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def stop(server: LoopbackServer):
    server.shutdown()
    server.server_close()

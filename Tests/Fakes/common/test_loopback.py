"""Checks of the loopback fakes' base (common/loopback.py), over real sockets on 127.0.0.1.

Run from the repository root: python3 -m unittest Tests/Fakes/common/test_loopback.py
"""

import http.client
import io
import json
import select
import signal
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

FAKES = Path(__file__).resolve().parent.parent
# This folder, not Tests/Fakes: with Tests/Fakes on sys.path every vendor folder (stripe/, later hubspot/ …)
# is a namespace package, and `import stripe` in a later test module of the same run would import the
# folder instead of failing when the official library is not installed.
if str(FAKES / "common") not in sys.path:
    sys.path.insert(0, str(FAKES / "common"))

from loopback import GARBAGE, CallLog, Fake, FaultQueue, LoopbackServer, Reply, serve_in_thread, stop  # noqa: E402


class Echo(Fake):
    """A fake answering every call with what it saw and the fake clock."""

    name = "echo"
    default_headers = {"X-Echo": "1"}
    handled = 0

    def handle(self, request):
        self.handled += 1
        if request.path == "/secret":
            return Reply.json(403, {"error": "no"})
        return Reply.json(200, {"method": request.method, "path": request.path, "query": request.query,
                                "body": request.body.decode(), "now": self.clock.now()})


def non_loopback_address():
    """This machine's address on its default route (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def read_answer(sock, timeout=5.0):
    """One whole HTTP answer (headers + Content-Length body) from a raw socket, and how many recv calls
    it took (each recv made once the socket is readable)."""
    data, recvs = b"", 0
    deadline = time.monotonic() + timeout
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            if len(rest) >= length:
                return data, recvs
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no whole answer within {timeout}s: {data!r}")
        chunk = sock.recv(65536)
        recvs += 1
        if not chunk:
            raise AssertionError(f"connection closed mid-answer: {data!r}")
        data += chunk


class LoopbackTests(unittest.TestCase):
    def setUp(self):
        self.fake = Echo()
        self.log = io.StringIO()
        self.fake.log_stream = self.log
        self.server = serve_in_thread(self.fake)
        self.addCleanup(stop, self.server)

    def connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        self.addCleanup(conn.close)
        return conn

    def call(self, conn, method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer, answer.read()

    def control(self, name, body=None, method="POST"):
        conn = self.connection()
        status, _, data = self.call(conn, method, "/__fake__/" + name, json.dumps(body) if body is not None else None)
        return status, json.loads(data)

    # -- transport ----------------------------------------------------------------------------

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        conn = self.connection()
        sockets = set()
        for i in range(5):
            status, answer, data = self.call(conn, "POST", f"/things/{i}?q=1", body=f"n={i}")
            self.assertEqual(200, status)
            self.assertEqual({"method": "POST", "path": f"/things/{i}", "query": "q=1", "body": f"n={i}"},
                             {k: v for k, v in json.loads(data).items() if k != "now"})
            self.assertEqual("1", answer.getheader("X-Echo"))
            self.assertIsNone(answer.getheader("Connection"))
            sockets.add(id(conn.sock))
        self.assertEqual(1, len(sockets), "http.client kept one connection")
        self.assertEqual(5, len(self.log.getvalue().splitlines()))
        other = self.connection()
        self.call(other, "GET", "/other")
        calls = self.control("calls", method="GET")[1]["calls"]
        numbers = [c["connection"] for c in calls]
        self.assertEqual(5 * [numbers[0]], numbers[:5], "the call log numbers the connection of each call")
        self.assertNotEqual(numbers[0], numbers[5])

    def test_each_answer_is_one_write_and_nagle_is_off(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            for i in range(20):
                sock.sendall(f"GET /item/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                data, recvs = read_answer(sock)
                self.assertEqual(1, recvs, f"answer {i} came in {recvs} pieces: {data!r}")
                self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data)
                self.assertIn(f'"/item/{i}"'.encode(), data)
        # The server's side of the connection has TCP_NODELAY: asked of the accepted socket once the
        # handler (which sets it in setup()) is done with it, before the server closes it.
        seen = []
        original = self.server.finish_request

        def spy(request, client_address):
            original(request, client_address)
            seen.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        self.server.finish_request = spy
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            sock.sendall(b"GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            read_answer(sock)
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(1, len(seen))
        self.assertNotEqual(0, seen[0], "TCP_NODELAY is set on accepted sockets")

    def test_connection_close_is_honoured(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = read_answer(sock)
            self.assertIn(b"Connection: close\r\n", data)
            sock.settimeout(2)
            self.assertEqual(b"", sock.recv(10), "closed after the answer")

    def test_bound_to_loopback_only(self):
        with self.assertRaises(ValueError):
            LoopbackServer(Echo(), 0, host="0.0.0.0")
        with self.assertRaises(ValueError):
            LoopbackServer(Echo(), 0, host="localhost")
        self.assertEqual("127.0.0.1", self.server.server_address[0])
        address = non_loopback_address()
        if address is None:
            self.skipTest("this machine has no non-loopback IPv4 address to try")
        with socket.socket() as outside, self.assertRaises(OSError, msg=f"{address}:{self.server.port} must be refused"):
            outside.settimeout(2)
            outside.connect((address, self.server.port))

    def test_request_log_has_no_query_and_no_headers(self):
        conn = self.connection()
        self.call(conn, "GET", "/secret?api_key=sk_test_hidden", headers={"Authorization": "Bearer sk_test_hidden"})
        line = self.log.getvalue().strip()
        self.assertRegex(line, r"^echo GET /secret -> 403 \d+\.\dms$")
        self.assertNotIn("sk_test_hidden", self.log.getvalue())

    # -- faults ---------------------------------------------------------------------------------

    def test_status_fault_with_body_content_type_and_headers(self):
        status, answer = self.control("fault", {"kind": "status", "status": 418, "body": "<h1>teapot</h1>",
                                                "content_type": "text/html", "headers": {"X-Why": "fault"}})
        self.assertEqual((200, 1), (status, answer["faults"][0]["count"]))
        conn = self.connection()
        status, response, data = self.call(conn, "GET", "/a")
        self.assertEqual((418, b"<h1>teapot</h1>", "text/html", "fault"),
                         (status, data, response.getheader("Content-Type"), response.getheader("X-Why")))
        status, _, _ = self.call(conn, "GET", "/a")
        self.assertEqual(200, status, "a fault hits count requests (1 by default), on the same connection after")
        # Without a body: the fake's error shape.
        self.control("fault", {"kind": "status", "status": 500})
        status, _, data = self.call(conn, "GET", "/a")
        self.assertEqual((500, 500), (status, json.loads(data)["error"]["status"]))

    def test_retry_after_fault_429_and_503(self):
        self.control("fault", [{"kind": "retry_after", "retry_after": 2},
                               {"kind": "retry_after", "status": 503, "retry_after": 7}])
        conn = self.connection()
        status, answer, data = self.call(conn, "GET", "/a")
        self.assertEqual((429, "2"), (status, answer.getheader("Retry-After")))
        self.assertIn("error", json.loads(data))
        status, answer, _ = self.call(conn, "GET", "/a")
        self.assertEqual((503, "7"), (status, answer.getheader("Retry-After")))
        status, _ = self.control("fault", {"kind": "retry_after", "status": 500})
        self.assertEqual(400, status)

    def test_delay_fault_waits_then_answers(self):
        self.control("fault", {"kind": "delay", "ms": 250})
        conn = self.connection()
        started = time.monotonic()
        status, _, _ = self.call(conn, "GET", "/slow")
        self.assertEqual(200, status)
        self.assertGreaterEqual(time.monotonic() - started, 0.25)
        self.call(conn, "GET", "/slow")
        calls = self.control("calls", method="GET")[1]["calls"]
        self.assertEqual(["delay", None], [c["fault"] for c in calls], "one delay, then none")

    def test_drop_fault_closes_without_answering(self):
        self.control("fault", {"kind": "drop"})
        conn = self.connection()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.call(conn, "GET", "/a")
        conn.close()
        status, _, _ = self.call(conn, "GET", "/a")  # http.client reconnects
        self.assertEqual(200, status)
        self.assertIn("echo GET /a -> dropped", self.log.getvalue())

    def test_phase_after_runs_the_call_then_loses_its_answer(self):
        self.control("fault", [{"kind": "drop", "phase": "after", "method": "POST"},
                               {"kind": "status", "status": 502, "phase": "after", "body": "bad gateway"}])
        conn = self.connection()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.call(conn, "POST", "/orders", body="x")
        self.assertEqual(1, self.fake.handled, "the call ran before the connection was dropped")
        conn.close()
        self.assertEqual((502, b"bad gateway"), (lambda r: (r[0], r[2]))(self.call(conn, "GET", "/a")))
        self.assertEqual(2, self.fake.handled)
        self.assertIn("fault=drop (after the call)", self.log.getvalue())
        status, answer = self.control("fault", {"kind": "delay", "phase": "after"})
        self.assertEqual(400, status, answer)

    def test_garbage_fault_is_200_and_not_json(self):
        self.control("fault", {"kind": "garbage"})
        status, _, data = self.call(self.connection(), "GET", "/a")
        self.assertEqual((200, GARBAGE), (status, data))
        with self.assertRaises(ValueError):
            json.loads(data)
        data.decode("utf-8")  # not JSON, but text: what a proxy's page is (and what stripe-python can log)

    def test_faults_match_method_path_prefix_and_count(self):
        self.control("fault", {"kind": "status", "status": 409, "method": "POST", "path": "/orders", "count": 2})
        conn = self.connection()
        self.assertEqual(200, self.call(conn, "GET", "/orders")[0], "another method")
        self.assertEqual(200, self.call(conn, "POST", "/items")[0], "another path")
        self.assertEqual(409, self.call(conn, "POST", "/orders/7", body="x")[0], "a path under the prefix")
        _, listed = self.control("fault", method="GET")
        self.assertEqual([1], [f["count"] for f in listed["faults"]])
        self.assertEqual(409, self.call(conn, "POST", "/orders")[0])
        self.assertEqual(200, self.call(conn, "POST", "/orders")[0], "used up")
        self.control("fault", [{"kind": "drop"}, {"kind": "garbage"}])
        self.assertEqual((200, {"faults": []}), self.control("fault", method="DELETE"))
        self.assertEqual(200, self.call(conn, "GET", "/a")[0])
        calls = self.control("calls", method="GET")[1]["calls"]
        self.assertEqual([None, None, "status", "status", None, None], [c["fault"] for c in calls])
        self.assertEqual([200, 200, 409, 409, 200, 200], [c["status"] for c in calls])

    def test_bad_fault_specs_are_refused_whole(self):
        for spec in ({"kind": "nope"}, {"kind": "status"}, {"kind": "drop", "count": 0}, {"kind": "drop", "extra": 1},
                     {"kind": "status", "status": 200, "headers": {"X": "a\r\nB: c"}}, {"kind": "delay", "ms": -1},
                     [{"kind": "drop"}, {"kind": "nope"}]):
            status, answer = self.control("fault", spec)
            self.assertEqual(400, status, spec)
            self.assertIn("error", answer)
        self.assertEqual([], self.control("fault", method="GET")[1]["faults"], "nothing of a refused list is queued")
        status, _ = self.control("fault", "not json at all")
        self.assertEqual(400, status)
        conn = self.connection()
        conn.request("POST", "/__fake__/fault", body="{broken")
        self.assertEqual(400, conn.getresponse().status)

    # -- clock, calls, reset ----------------------------------------------------------------------

    def test_clock_freezes_advances_and_returns_to_wall_time(self):
        self.assertEqual(200, self.control("clock", {"now": 1_700_000_000})[0])
        conn = self.connection()
        self.assertEqual(1_700_000_000, json.loads(self.call(conn, "GET", "/t")[2])["now"])
        self.assertEqual({"now": 1_700_000_010, "frozen": True}, self.control("clock", {"advance": 10})[1])
        self.control("clock", {"real": True})
        self.assertAlmostEqual(time.time(), self.control("clock", method="GET")[1]["now"], delta=2)
        self.control("clock", {"advance": -60})
        self.assertAlmostEqual(time.time() - 60, json.loads(self.call(conn, "GET", "/t")[2])["now"], delta=2)
        self.assertEqual(400, self.control("clock", {"advance": "soon"})[0])
        self.assertEqual(400, self.control("clock", {"tomorrow": True})[0])

    def test_calls_log_and_reset(self):
        self.control("clock", {"now": 1_000})
        conn = self.connection()
        self.call(conn, "GET", "/a?x=1")
        self.call(conn, "DELETE", "/b")
        calls = self.control("calls", method="GET")[1]["calls"]
        self.assertEqual([("GET", "/a", "x=1", 200, 1000), ("DELETE", "/b", "", 200, 1000)],
                         [(c["method"], c["path"], c["query"], c["status"], c["at"]) for c in calls])
        self.control("fault", {"kind": "drop"})
        self.assertEqual((200, {"reset": True}), self.control("reset"))
        self.assertEqual([], self.control("calls", method="GET")[1]["calls"])
        self.assertEqual([], self.control("fault", method="GET")[1]["faults"])
        self.assertFalse(self.control("clock", method="GET")[1]["frozen"])
        self.assertEqual(404, self.control("nothing-here")[0])

    def test_a_fake_may_serve_fewer_methods_and_name_http_servers_error_pages(self):
        class Strict(Echo):
            http_methods = ("GET", "POST")
            error_server_header = "Strict/1.0"

        self.assertEqual(200, self.call(self.connection(), "HEAD", "/a")[0], "the base serves HEAD by default")
        strict = Strict()
        strict.log_stream = io.StringIO()
        server = serve_in_thread(strict)
        self.addCleanup(stop, server)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 501 Unsupported method ('HEAD')\r\n"), data)
            self.assertIn(b"Server: Strict/1.0\r\n", data)
            self.assertIn(b"Connection: close\r\n", data)
            self.assertTrue(data.endswith(b"\r\n\r\n"), "no body for HEAD")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        self.addCleanup(conn.close)
        status, answer, _ = self.call(conn, "DELETE", "/a")
        self.assertEqual((501, "Strict/1.0"), (status, answer.getheader("Server")))
        self.assertEqual(0, strict.handled)
        self.assertEqual(200, self.call(conn, "GET", "/a")[0])

    def test_a_fake_may_queue_its_own_faults_and_match_them_its_own_way(self):
        class Own:
            def __init__(self, spec):
                if spec.get("topic") is None:
                    raise ValueError("a fault needs a topic")
                self.topic, self.remaining = spec["topic"], spec.get("count", 1)

            def describe(self):
                return {"topic": self.topic, "remaining": self.remaining}

        class OwnQueue(FaultQueue):
            fault_class = Own

            def validate(self, spec):
                return spec

        queue = OwnQueue()
        self.assertEqual([{"topic": "a", "remaining": 2}, {"topic": "b", "remaining": 1}],
                         queue.add([{"topic": "a", "count": 2}, {"topic": "b"}]))
        with self.assertRaises(ValueError):
            queue.add([{"topic": "c"}, {}])
        self.assertEqual(2, len(queue.pending()), "nothing of a refused list is queued")
        self.assertEqual("b", queue.take_first(lambda f: f.topic == "b").topic)
        self.assertIsNone(queue.take_first(lambda f: f.topic == "b"), "used up")
        self.assertEqual([1, 0], [queue.take_first(lambda f: f.topic == "a").remaining for _ in range(2)])
        self.assertEqual([], queue.pending())
        self.assertIsInstance(FaultQueue().add({"kind": "drop"}), list, "the base's own queue is unchanged")

    def test_call_log_limit_forgets_the_oldest(self):
        log = CallLog(limit=5, trim=2)
        for i in range(7):
            log.add({"n": i})
        self.assertEqual([2, 3, 4, 5, 6], [e["n"] for e in log.list()], "at 6 the oldest 2 went, at 7 none")
        log = CallLog(limit=3)
        for i in range(5):
            log.add({"n": i})
        self.assertEqual([2, 3, 4], [e["n"] for e in log.list()])
        self.assertEqual(100, len([CallLog().add({}) for _ in range(100)]))

    def test_a_bug_in_the_fake_is_a_500_not_a_dead_connection(self):
        def broken(request):
            raise RuntimeError("oops")

        self.fake.handle = broken
        stderr, sys.stderr = sys.stderr, io.StringIO()  # the traceback
        try:
            conn = self.connection()
            status, _, data = self.call(conn, "GET", "/a")
            self.assertEqual(500, status)
            self.assertIn("RuntimeError", json.loads(data)["error"]["message"])
            self.fake.handle = Echo.handle.__get__(self.fake)
            self.assertEqual(200, self.call(conn, "GET", "/a")[0], "the connection lives on")
        finally:
            sys.stderr = stderr


class ProcessTests(unittest.TestCase):
    def test_first_line_and_clean_stop_on_sigterm_and_sigint(self):
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from common.loopback import Fake, run\n"
                "class Stopping(Fake):\n"
                "    def stopped(self):\n"
                "        sys.stderr.write('stopped\\n')\n"
                "sys.exit(run(Stopping(), 0, banner='test fake on {address}'))")
        for signum in (signal.SIGTERM, signal.SIGINT):
            process = subprocess.Popen([sys.executable, "-c", code, str(FAKES)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            try:
                ready, _, _ = select.select([process.stdout], [], [], 10)
                line = process.stdout.readline().decode() if ready else ""
                self.assertRegex(line, r"^listening 127\.0\.0\.1:\d+\n$")
                port = int(line.strip().rsplit(":", 1)[1])
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/nothing")
                self.assertEqual(404, conn.getresponse().status)
                conn.close()
                process.send_signal(signum)
                self.assertEqual(0, process.wait(5))
                stderr = process.stderr.read()
                self.assertIn(f"test fake on 127.0.0.1:{port}\n".encode(), stderr)
                self.assertTrue(stderr.endswith(b"\nstopped\n"), "stopped() once the server stopped")
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.stdout.close()
                process.stderr.close()


if __name__ == "__main__":
    unittest.main()

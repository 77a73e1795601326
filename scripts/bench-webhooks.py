#!/usr/bin/env python3
"""Webhook ingress benchmark: real connector-hostd (release), the sample plugin verifying each
request's Stripe-style signature, every accepted event stored durably before the 200.

  throughput  webhooks/s accepted, several client processes on keep-alive connections
  latency     p50/p99 acknowledgement time at a fixed 1,000 webhooks/s
Each webhook carries one new event. The client runs on the same 2 cores as the daemon and plugin.
"""
import argparse, hashlib, hmac, http.client, json, multiprocessing, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--quick", action="store_true")
parser.add_argument("--clients", type=int, default=16, help="client processes, each one keep-alive connection with one webhook in flight")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
SECRET = "whsec_bench_" + os.urandom(8).hex()


def sign(body: bytes) -> str:
    t = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def post(conn, index):
    body = json.dumps({"emit": [index]}).encode()
    conn.request("POST", "/hooks/hook", body=body, headers={"Sample-Signature": sign(body), "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def worker(port, indices, ready, go, results):
    """Signs its webhooks before the clock starts, then sends them one after another on one keep-alive
    connection as raw bytes: the client's own cost (http.client parses every answer in Python) must not
    be what is measured, on the 2 cores it shares with the daemon."""
    import socket
    requests = []
    for index in indices:
        body = json.dumps({"emit": [index]}).encode()
        requests.append(b"POST /hooks/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + f"Sample-Signature: {sign(body)}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ready.put(1)
    go.wait()
    ok = 0
    pending = b""
    for request in requests:
        conn.sendall(request)
        # One answer: its head, then as many body bytes as its Content-Length says.
        while True:
            end = pending.find(b"\r\n\r\n")
            if end >= 0:
                head = pending[:end].decode("latin-1").lower()
                length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]) if "content-length:" in head else 0
                if len(pending) >= end + 4 + length:
                    ok += head.startswith("http/1.1 200")
                    pending = pending[end + 4 + length:]
                    break
            chunk = conn.recv(65536)
            if not chunk:
                raise SystemExit("the daemon closed the connection")
            pending += chunk
    conn.close()
    results.put((ok, time.monotonic()))


class Daemon(benchdaemon.Daemon):
    """A sample connector "hook" taking signed webhooks on a loopback HTTP listener."""
    def __init__(self):
        super().__init__(BIN, '[[connector]]\nid = "hook"\nplugin = "sample"\n[connector.config]\nwebhook_secret = "webhook_secret"\n',
                         host_extra='[http]\nlisten = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\nwebhook_rate_limit = "100000/s"',
                         secrets=[("hook", "webhook_secret", SECRET)], prefix="chwh-")
        self.wait_for(lambda: json.loads(self.hostctl("connectors", "--json"))[0]["state"] == "running")
        self.port = int(json.loads(self.hostctl("status", "--json"))["webhooks"].rsplit(":", 1)[1])

    def events(self):
        return self.count("SELECT COUNT(*) FROM events")


d = Daemon()
results = {}

# Throughput: several client processes, keep-alive, one new event per webhook.
total = 5_000 if args.quick else 30_000
clients = args.clients
chunks = [list(range(i, total, clients)) for i in range(clients)]
queue, ready, go = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Event()
procs = [multiprocessing.Process(target=worker, args=(d.port, chunk, ready, go, queue)) for chunk in chunks]
for p in procs:
    p.start()
for _ in procs:
    ready.get()  # every client has signed its webhooks and connected
start = time.monotonic()
go.set()
answers = [queue.get() for _ in procs]
accepted = sum(ok for ok, _ in answers)
elapsed = max(end for _, end in answers) - start
for p in procs:
    p.join()
stored = d.events()
results["webhooks_per_s"] = accepted / elapsed
print(f"  throughput  {accepted:,} webhooks accepted (verified + stored durably) in {elapsed:.1f} s by {clients} clients: "
      f"{accepted / elapsed:,.0f} webhooks/s; {stored:,} events in the store")

# Latency at a fixed 1,000 webhooks/s: each request on schedule, acknowledgement time measured.
seconds = 5 if args.quick else 15
rate = 1000
conns = [http.client.HTTPConnection("127.0.0.1", d.port) for _ in range(8)]
latencies = []
import concurrent.futures
def timed(conn, index):
    t0 = time.monotonic()
    status = post(conn, index)
    return (time.monotonic() - t0) * 1000, status
with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
    free = list(conns)
    futures = {}
    begin = time.monotonic()
    for n in range(rate * seconds):
        due = begin + n / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        while not free:
            done, _ = concurrent.futures.wait(list(futures), return_when=concurrent.futures.FIRST_COMPLETED)
            for f in done:
                free.append(futures.pop(f))
                latencies.append(f.result())
        conn = free.pop()
        futures[pool.submit(timed, conn, total + n)] = conn
    for f in concurrent.futures.as_completed(list(futures)):
        latencies.append(f.result())
    achieved = len(latencies) / (time.monotonic() - begin)
ok = sorted(l for l, status in latencies if status == 200)
p = lambda q: ok[min(len(ok) - 1, int(q * len(ok)))]
results["ack_ms"] = {"rate": round(achieved), "p50": round(p(0.5), 2), "p99": round(p(0.99), 2), "max": round(ok[-1], 2)}
print(f"  latency     {len(ok):,} webhooks at {achieved:,.0f}/s: acknowledgement p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {ok[-1]:.1f} ms")
d.stop()
print(json.dumps(results))

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


def worker(port, indices, results):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    ok = 0
    for index in indices:
        if post(conn, index) == 200:
            ok += 1
    results.put(ok)


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
clients = 16
chunks = [list(range(i, total, clients)) for i in range(clients)]
queue = multiprocessing.Queue()
procs = [multiprocessing.Process(target=worker, args=(d.port, chunk, queue)) for chunk in chunks]
start = time.monotonic()
for p in procs:
    p.start()
accepted = sum(queue.get() for _ in procs)
elapsed = time.monotonic() - start
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

#!/usr/bin/env python3
"""Daemon-level benchmarks: real connector-hostd, real sample plugins, real sockets, real SQLite.

Prints, each with the configuration that made it:
  ingest     events/s from a source plugin into the store (no routes: intake alone)
  end-to-end events/s source -> sink with durability on (sink fsync on and off)
  latency    p50/p99 ingest-to-delivery at a fixed 1,000 events/s
  memory     daemon RSS with 1,000,000 events queued (sink paused)
"""
import argparse, json, os, shutil, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--quick", action="store_true")
parser.add_argument("--only", choices=["ingest", "e2e", "latency", "memory"], help="run one benchmark")
parser.add_argument("--e2e-events", type=int, help="events end to end (default 100,000; 20,000 with --quick)")
parser.add_argument("--concurrency", type=int, default=32, help="the route's concurrency (default 32): deliveries worked on at once (PROTOCOL.md 5.6.1)")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)


class Daemon(benchdaemon.Daemon):
    def __init__(self, connectors):
        super().__init__(BIN, connectors)


def source(emit, extra=""):
    return f'[[connector]]\nid = "src"\nplugin = "sample"\npoll_batch = 1000\npoll_interval_ms = 20\n[connector.config]\nemit = {emit}\n{extra}\n'


def sink(directory_hint, fsync=True, extra=""):
    return f'[[connector]]\nid = "sink"\nplugin = "sample"\n[connector.config]\neffects_file = "EFFECTS"\neffects_fsync = {"true" if fsync else "false"}\n{extra}\n'


def route(extra=""):
    return f'[[route]]\nfrom = "src"\nto = "sink"\nevents = ["*"]\nconcurrency = {args.concurrency}\n{extra}\n'


def with_effects(d_text, path):
    return d_text.replace("EFFECTS", path)


results = {}
N_INGEST = 50_000 if args.quick else 300_000
N_E2E = args.e2e_events or (20_000 if args.quick else 100_000)

def bench_ingest():
    """A source plugin, no routes: intake alone."""
    d = Daemon(source(N_INGEST))
    d.wait("SELECT COUNT(*) FROM events", N_INGEST)
    t = d.since_start("SELECT MAX(received_at) FROM events")
    results["ingest"] = N_INGEST / t
    print(f"  ingest      {N_INGEST:>9,} events from the sample source plugin into the store: {N_INGEST / t:>9,.0f} events/s ({t:.1f} s, includes daemon start)")
    d.stop()


def bench_e2e():
    """End to end, with the sink fsyncing each effect, then without."""
    for fsync in (True, False):
        tmp = tempfile.mkdtemp(prefix="chfx-", dir="/tmp")
        d = Daemon(source(N_E2E) + with_effects(sink(tmp, fsync), f"{tmp}/effects") + route())
        d.wait("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'", N_E2E)
        t = d.since_start("SELECT MAX(finished_at) FROM attempts")
        lines = sum(1 for _ in open(f"{tmp}/effects"))
        label = "sink fsyncs each effect" if fsync else "sink effects not fsynced"
        results[f"e2e_fsync_{fsync}"] = N_E2E / t
        cpu = d.cpu_seconds()
        print(f"  end-to-end  {N_E2E:>9,} events source -> host (durable) -> sink, {label}: {N_E2E / t:>9,.0f} events/s ({t:.1f} s; {lines:,} effects)")
        print(f"              CPU per event: daemon {cpu['daemon'] / N_E2E * 1e6:.0f} µs, plugins " + ", ".join(f"{s / N_E2E * 1e6:.0f} µs" for s in cpu["plugins"]))
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_latency():
    """Latency at a fixed 1,000 events/s: received_at (stored) -> finished_at (delivery recorded)."""
    SECONDS = 10 if args.quick else 30
    tmp = tempfile.mkdtemp(prefix="chfx-", dir="/tmp")
    d = Daemon(source(1000 * SECONDS, "emit_rate = 1000") + with_effects(sink(tmp, False), f"{tmp}/effects") + route())
    d.wait("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'", 1000 * SECONDS, timeout=SECONDS * 4 + 30)
    with d.db() as c:
        lat = sorted(r[0] for r in c.execute("SELECT a.finished_at - e.received_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN events e ON e.id = d.event_id WHERE a.outcome IN ('delivered','duplicate')"))
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    results["latency_ms"] = {"p50": p(0.5), "p99": p(0.99), "max": lat[-1]}
    print(f"  latency     {len(lat):>9,} events at 1,000/s, stored -> delivered: p50 {p(0.5)} ms, p99 {p(0.99)} ms, max {lat[-1]} ms")
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def bench_memory():
    """1,000,000 events queued for a paused sink."""
    N_QUEUE = 100_000 if args.quick else 1_000_000
    tmp = tempfile.mkdtemp(prefix="chfx-", dir="/tmp")
    d = Daemon(source(N_QUEUE) + with_effects(sink(tmp, False), f"{tmp}/effects") + route())
    d.admin("pause", {"id": "sink"})
    d.wait("SELECT COUNT(*) FROM events", N_QUEUE, timeout=900)
    time.sleep(2)
    queued = d.count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
    rss = d.rss_kib()
    results["rss_mib_queued"] = rss / 1024
    print(f"  memory      {queued:>9,} deliveries queued (sink paused): daemon RSS {rss / 1024:.1f} MiB")
    d.stop()
    shutil.rmtree(tmp, ignore_errors=True)


for name in ("ingest", "e2e", "latency", "memory"):
    if args.only in (None, name):
        globals()[f"bench_{name}"]()

print(json.dumps(results))

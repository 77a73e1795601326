#!/usr/bin/env python3
"""Records/s of an Airbyte source through connector-airbyte into the durable store, beside the same source
alone and beside the peers' path, in one run. The source is ../shared/bench-peers' own Airbyte CDK source
(airbyte/source_synthetic.py: N synthetic ~300-byte customers, full refresh, no HTTP), run by the peers'
virtualenv, so that the three lines read the same records:
  source alone         `read` into /dev/null: what the source itself costs
  peers: CDK → SQLite  the same `read` piped into bench-peers' SQLite consumer (consumer/sqlite_consumer.py)
  connector-host       connector-hostd with connector-airbyte running the same command, no routes: from the
                       daemon's start to the last event stored (durable: WAL, synchronous=FULL, deduplicated);
                       this includes the source's `discover` (the other two are handed the catalog), timed
                       alone too, and the CPU seconds of the daemon and the plugin are printed
then the ratios. Needs the peers' virtualenv (../shared/bench-peers/run makes it) and release binaries.
usage: scripts/bench-airbyte.py --bin BIN_DIR [--records N] [--runs R]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench-peers"))
parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--records", type=int, default=200_000)
parser.add_argument("--runs", type=int, default=3, help="runs of each, the median reported (default 3)")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
N = args.records
PYTHON = os.path.join(os.environ.get("PEERS_CACHE", os.path.expanduser("~/.cache/connector-host-peers")), "airbyte", "bin", "python")
SOURCE = os.path.join(PEERS, "airbyte", "source_synthetic.py")
CATALOG = os.path.join(PEERS, "airbyte", "catalog.json")
CONSUMER = os.path.join(PEERS, "consumer", "sqlite_consumer.py")
for path, what in ((PYTHON, "the peers' Airbyte virtualenv (run ../shared/bench-peers/run once)"), (SOURCE, "bench-peers"), (f"{BIN}/connector-airbyte", "release binaries")):
    if not os.path.exists(path):
        raise SystemExit(f"missing {path}: {what}")

work = tempfile.mkdtemp(prefix="chairbyte-", dir="/tmp")
config = os.path.join(work, "config.json")
with open(config, "w") as f:
    json.dump({"n": N}, f)
command = os.path.join(work, "source")
with open(command, "w") as f:  # the command connector-airbyte runs: the peers' python on their source
    f.write(f"#!/bin/sh\nexec '{PYTHON}' '{SOURCE}' \"$@\"\n")
os.chmod(command, 0o755)


def timed(shell):
    start = time.monotonic()
    subprocess.run(shell, shell=True, check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def alone():
    return timed(f"'{PYTHON}' '{SOURCE}' read --config '{config}' --catalog '{CATALOG}' > /dev/null")


def peers():
    db = os.path.join(work, "peers.db")
    seconds = timed(f"'{PYTHON}' '{SOURCE}' read --config '{config}' --catalog '{CATALOG}' | python3 '{CONSUMER}' airbyte '{db}'")
    os.remove(db)
    return seconds


def discover():
    return timed(f"'{PYTHON}' '{SOURCE}' discover --config '{config}' > /dev/null")


cpu = []


def host():
    connectors = (f'[[connector]]\nid = "synthetic"\nplugin = "airbyte"\npoll_batch = 1000\npoll_interval_ms = 3600000\n'
                  f'[connector.config]\ncommand = "{command}"\n[connector.config.source]\nn = {N}\n')
    daemon = benchdaemon.Daemon(BIN, connectors, prefix="chairbyte-")
    try:
        daemon.wait("SELECT count(*) FROM events", N, timeout=1800)
        cpu.append(daemon.cpu_seconds())
        return daemon.since_start("SELECT max(received_at) FROM events")
    finally:
        daemon.stop()


results = {}
for name, run in (("source alone", alone), ("peers: CDK -> SQLite", peers), ("connector-host", host)):
    seconds = statistics.median(run() for _ in range(args.runs))
    results[name] = N / seconds
    print(f"  {name:<22} {N:>9,} records: {N / seconds:>9,.0f} records/s (median of {args.runs}, {seconds:.1f} s)", flush=True)
print(f"    of which the source's discover, alone: {statistics.median(discover() for _ in range(args.runs)):.1f} s (median of {args.runs}); "
      f"CPU s of the daemon / connector-airbyte: {statistics.median(c['daemon'] for c in cpu):.1f} / {statistics.median(sum(c['plugins']) for c in cpu):.1f}")
print(f"  connector-host / peers: {results['connector-host'] / results['peers: CDK -> SQLite']:.2f}x, "
      f"connector-host / source alone: {results['connector-host'] / results['source alone']:.2f}x")
print(json.dumps(results))
subprocess.run(["rm", "-rf", work])

#!/usr/bin/env python3
"""The stores and the number of hosts side by side, in one run: real connector-hostd daemons, real sample
plugins, the SQLite store and a PostgreSQL server (the caller's, e.g. scripts/bench-postgres's throwaway one).

Prints, for each of SQLite (1 host), PostgreSQL (1 host) and PostgreSQL (2 hosts, one database, the same
connectors and vault key, each daemon its own member name and directory):
  ingest     events/s from two source plugins into the store (no routes: intake alone)
  end-to-end events/s from the two sources to one sink that fsyncs each effect (the hosts' sinks share one
             effects file; with two hosts, once more with a file each)
then, for each, PostgreSQL 1 host / SQLite and PostgreSQL 2 hosts / 1 host.
Each PostgreSQL setup gets a new database (bench_hosts_…), dropped at the end. The password: PGPASSWORD.
usage: scripts/bench-hosts.py --bin BIN_DIR --postgres postgres://USER@HOST:PORT/postgres [--events N] [--only ingest|e2e]
                             [--setup sqlite-1|postgres-1|postgres-2|postgres-2-own ...] [--keep-logs DIR]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--postgres", required=True, help="a maintenance database's URL (postgres://USER@HOST:PORT/postgres): the benchmark's databases are made from it; the password from PGPASSWORD")
parser.add_argument("--events", type=int, default=100_000, help="events per measurement, half from each source (default 100,000)")
parser.add_argument("--only", choices=["ingest", "e2e"], help="run one benchmark")
parser.add_argument("--concurrency", type=int, default=32, help="each route's concurrency (default 32)")
parser.add_argument("--timeout", type=float, default=900, help="seconds a measurement may take (default 900)")
parser.add_argument("--setup", choices=["sqlite-1", "postgres-1", "postgres-2", "postgres-2-own"], action="append",
                    help="run only these setups (repeatable; postgres-2-own: two hosts, each sink its own effects file)")
parser.add_argument("--keep-logs", metavar="DIR", help="copy each daemon's log into DIR (named after the benchmark, setup and member)")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
N = args.events
PASSWORD = os.environ.get("PGPASSWORD")
POSTGRES = urllib.parse.urlsplit(args.postgres)
if POSTGRES.scheme not in ("postgres", "postgresql") or not POSTGRES.hostname:
    raise SystemExit(f"--postgres: not a postgres:// URL: {args.postgres}")
if N < 2:
    raise SystemExit("--events: at least 2 (one per source)")


def database_url(name, query=True):
    return POSTGRES._replace(path=f"/{name}", query=POSTGRES.query if query else "", fragment="").geturl()


def psql(url, sql):
    """One statement through psql (PGPASSWORD from the environment); its output, trimmed."""
    done = subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tAc", sql], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"psql: {sql}: {done.stderr.strip()}")
    return done.stdout.strip()


class Postgres:
    """A new database of the server for one setup, and the `[store]` table of each of its hosts."""

    def __init__(self, name):
        self.name = name
        psql(args.postgres, f"CREATE DATABASE {name}")
        self.url = database_url(name)

    def table(self, directory, member):
        password_file = ""
        if PASSWORD is not None:
            path = f"{directory}/postgres.password"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(PASSWORD + "\n")
            password_file = f'password_file = "{path}"\n'
        return (f'[store]\nkind = "postgres"\nurl = "{database_url(self.name, query=False)}"\n{password_file}'
                f'tls = "disable"\nmember = "{member}"\nlease_seconds = 10\n')

    def count(self, sql):
        out = psql(self.url, sql)
        return int(out) if out else None

    def drop(self):
        done = subprocess.run(["psql", args.postgres, "-X", "-q", "-tAc", f"DROP DATABASE IF EXISTS {self.name}"], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"  (could not drop database {self.name}: {done.stderr.strip()})", file=sys.stderr)


class Host(benchdaemon.Daemon):
    """A connector-hostd in a directory of its own, on SQLite or on `postgres` as `member`; `vault_key`:
    the vault key of the setup's first host, which the others start with (the vault is in the shared store)."""

    def __init__(self, connectors, postgres=None, member="a", vault_key=None, label=""):
        self.bin = BIN
        self.label = f"{label}-{member}"
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="chhosts-", dir="/tmp")
        RUNNING.append(self)
        self.postgres = postgres
        os.makedirs(f"{self.dir}/run")
        os.makedirs(f"{self.dir}/state")
        if vault_key:
            shutil.copyfile(vault_key, f"{self.dir}/state/vault.key")
            os.chmod(f"{self.dir}/state/vault.key", 0o600)
        self.host_extra = postgres.table(self.dir, member) if postgres else ""
        self.write(connectors)
        self.log = open(f"{self.dir}/daemon.log", "w")
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.proc = subprocess.Popen([f"{BIN}/connector-hostd", "--config", f"{self.dir}/host.toml"], stdout=self.log, stderr=self.log)
        ready = f"{self.dir}/state/vault.key" if postgres else f"{self.dir}/state/connector-host.sqlite"
        self.wait_for(lambda: os.path.exists(ready) and os.path.exists(f"{self.dir}/run/admin.sock"), 30)

    def count(self, sql):
        return self.postgres.count(sql) if self.postgres else super().count(sql)

    def log_tail(self):
        try:
            return open(f"{self.dir}/daemon.log").read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                print("  (a daemon did not stop within 60 s of SIGTERM: killed)", file=sys.stderr)
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
            if args.keep_logs:
                os.makedirs(args.keep_logs, exist_ok=True)
                shutil.copyfile(f"{self.dir}/daemon.log", os.path.join(args.keep_logs, f"{self.label}.log"))
        shutil.rmtree(self.dir, ignore_errors=True)


RUNNING = []     # every Host made, stopped and removed at the end of its setup (or of the run)
DATABASES = []   # every database made, dropped at the end of the run
TEMP_DIRS = []


def connectors(effects=None):
    half = N // 2
    text = "".join(f'[[connector]]\nid = "{sid}"\nplugin = "sample"\npoll_batch = 1000\npoll_interval_ms = 20\n[connector.config]\nemit = {emit}\n\n'
                   for sid, emit in (("s1", half), ("s2", N - half)))
    if effects:
        text += f'[[connector]]\nid = "sink"\nplugin = "sample"\n[connector.config]\neffects_file = "{effects}"\neffects_fsync = true\n\n'
        text += "".join(f'[[route]]\nfrom = "{sid}"\nto = "sink"\nevents = ["*"]\nconcurrency = {args.concurrency}\n\n' for sid in ("s1", "s2"))
    return text


def setup_name(store, hosts, own_files=False):
    return f"{store}-{hosts}{'-own' if own_files else ''}"


def chosen(store, hosts, own_files=False):
    return not args.setup or setup_name(store, hosts, own_files) in args.setup


def start(kind, store, hosts, effects=None, own_files=False):
    """The setup's daemons, the first started (and ready) before the others get its vault key. With
    `own_files`, each host's sink writes an effects file of its own (`effects` + `-` + member)."""
    postgres = None
    if store == "postgres":
        postgres = Postgres(f"bench_hosts_{kind}_{hosts}{'_own' if own_files else ''}_{os.getpid()}")
        DATABASES.append(postgres)
    def effects_of(member):
        return f"{effects}-{member}" if effects and own_files else effects
    label = f"{kind}-{setup_name(store, hosts, own_files)}"
    first = Host(connectors(effects_of("a")), postgres, "a", label=label)
    started = [first]
    for member in "bcdefgh"[:hosts - 1]:
        started.append(Host(connectors(effects_of(member)), postgres, member, vault_key=f"{first.dir}/state/vault.key", label=label))
    return started


def wait(hosts, what, sql, target):
    """Polls `sql` about 5 times a second until it counts `target`; stops the run if a daemon exits or
    the time runs out."""
    deadline = time.monotonic() + args.timeout
    n = 0
    while True:
        for host in hosts:
            if host.proc.poll() is not None:
                raise SystemExit(f"{what}: a daemon exited ({host.proc.returncode}) with {n:,} of {target:,} counted:\n{host.log_tail()}")
        n = hosts[0].count(sql) or 0
        if n >= target:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: timed out after {args.timeout:.0f} s with {n:,} of {target:,} counted ({sql})\n{hosts[0].log_tail()}")
        time.sleep(0.2)


def stop(hosts):
    for host in hosts:
        host.stop()
        RUNNING.remove(host)


SETUPS = (("sqlite", 1), ("postgres", 1), ("postgres", 2))
LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
results = {}


def report(kind, store, hosts, t, extra="", key=None):
    rate = N / t
    results.setdefault(kind, {})[key or f"{store}_{hosts}"] = rate
    print(f"  {'ingest' if kind == 'ingest' else 'end-to-end':<10} {LABEL[store]:<10} {hosts} host{'s' if hosts > 1 else ' '} {N:>9,} events: {rate:>9,.0f} events/s ({t:.1f} s{extra})", flush=True)


def bench_ingest():
    """Two source plugins, no routes: intake alone."""
    for store, n_hosts in SETUPS:
        if not chosen(store, n_hosts):
            continue
        hosts = start("ingest", store, n_hosts)
        wait(hosts, f"ingest on {LABEL[store]}, {n_hosts} host(s)", "SELECT count(*) FROM events", N)
        report("ingest", store, n_hosts, hosts[0].since_start("SELECT max(received_at) FROM events"))
        stop(hosts)


def bench_e2e():
    """The two sources routed to one sink that fsyncs each effect; with two hosts both sinks append to one
    file (one external system, under its lock), and then each to a file of its own (independent sinks)."""
    for store, n_hosts, own_files in [(store, n, False) for store, n in SETUPS] + [("postgres", 2, True)]:
        if not chosen(store, n_hosts, own_files):
            continue
        tmp = tempfile.mkdtemp(prefix="chfx-", dir="/tmp")
        TEMP_DIRS.append(tmp)
        hosts = start("e2e", store, n_hosts, effects=f"{tmp}/effects", own_files=own_files)
        wait(hosts, f"end-to-end on {LABEL[store]}, {n_hosts} host(s)", "SELECT count(*) FROM deliveries WHERE state = 'delivered'", N)
        t = hosts[0].since_start("SELECT max(updated_at) FROM deliveries WHERE state = 'delivered'")
        keys = []
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name)) as f:
                keys += f.read().split()
        extra = f"; {len(keys):,} effects, {len(set(keys)):,} distinct" + ("; each sink its own file" if own_files else "")
        report("e2e", store, n_hosts, t, extra, key=f"{store}_{n_hosts}{'_own_files' if own_files else ''}")
        stop(hosts)


def ratios(kind):
    r = results.get(kind, {})
    if {"sqlite_1", "postgres_1", "postgres_2"} <= r.keys():
        print(f"  {'ingest' if kind == 'ingest' else 'end-to-end':<10} PostgreSQL 1 host / SQLite: {r['postgres_1'] / r['sqlite_1']:.2f}x, "
              f"PostgreSQL 2 hosts / 1 host: {r['postgres_2'] / r['postgres_1']:.2f}x"
              + (f" (each sink its own file: {r['postgres_2_own_files'] / r['postgres_1']:.2f}x)" if "postgres_2_own_files" in r else ""))


# Stopped by a signal: the daemons are stopped and the temporary directories and databases removed all the same.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
try:
    for name in ("ingest", "e2e"):
        if args.only in (None, name):
            globals()[f"bench_{name}"]()
    for name in ("ingest", "e2e"):
        ratios(name)
    print(json.dumps(results))
finally:
    for host in list(RUNNING):
        host.stop()
    for database in DATABASES:
        database.drop()
    for tmp in TEMP_DIRS:
        shutil.rmtree(tmp, ignore_errors=True)

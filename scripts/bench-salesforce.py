#!/usr/bin/env python3
"""Accounts per second read from Salesforce (the fake Salesforce of Tests/Fakes/salesforce, on loopback) by the
daemon and connector-salesforce into the store, beside a plain Python client reading the same records the same
way from the same fake in the same run.

N accounts, each with one contact (its email), are seeded in the fake, stamped a day ago (history, older than the
connector's look-back). Then:

1. Bulk backfill. The daemon starts with connector-salesforce (streams ["accounts"], default settings: Bulk
   backfill, page_size 2000, lookback_s 600, JWT-bearer with the private key in the vault); the clock runs from
   the daemon's start to the last of the N events in the store. The connector creates a Bulk API 2.0 query job,
   polls it, reads its CSV results in pages of `maxRecords` = the poll batch (`Sforce-Locator`), and for each page
   queries the accounts' contacts' emails, 200 accounts a query. The plain client does the same calls with the
   same SOQL: a JWT-bearer token, the job, its state, the CSV pages (parsed with the csv module) with the same
   maxRecords, the emails 200 accounts at a time (following nextRecordsUrl), the job deleted.
2. Incremental reads. M of the accounts are changed (`/__fake__/touch`, a new Phone); the clock runs from the
   connector's first `queryAll` after the change to the last of the M new versions in the store (a caught-up
   stream asks again only after its `idle_interval_s`, default 60 s: that wait is printed apart). The connector reads `queryAll` by SystemModstamp
   (ORDER BY SystemModstamp, Id; `batchSize=2000`; nextRecordsUrl pages) from its Bulk job's creation less the
   look-back, and queries the emails of each poll's accounts. The plain client, after its own backfill and the
   same M accounts changed again, runs the same queryAll from the same point and follows nextRecordsUrl, with the
   emails of each page.

The daemon's and plugin's CPU seconds are read from /proc for each phase; the fake's request log gives the
requests of each client by kind and the fake's own time answering them.

usage: scripts/bench-salesforce.py --bin .build/release [--accounts N] [--updates M] [--poll-batch B]
                                   [--poll-interval-ms MS] [--json]
  --poll-batch: the connector's poll_batch (default 1000, as the other benchmarks): the most events a poll
    answers, the Bulk results' maxRecords, and the plain client's maxRecords too.
  --poll-interval-ms: the connector's poll_interval_ms (default 200): how soon a caught-up stream looks again.
"""
import argparse, base64, calendar, collections, csv, http.client, io, json, os, shutil, subprocess, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSUMER_KEY = "bench_consumer_key"
USERNAME = "integration@example.com"
AUDIENCE = "https://login.salesforce.com"
API = "/services/data/v59.0"
# The SOQL connector-salesforce sends for the accounts stream (SalesforceMapping.fields, SOQL.select), and for
# an account page's contacts' emails (SalesforceSource.map).
ACCOUNT_FIELDS = ["Id", "Name", "Website", "Phone", "Industry", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
                  "BillingCountry", "SystemModstamp", "IsDeleted"]
BULK_SOQL = f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM Account"
LOOKBACK_S = 600  # the connector's default lookback_s
PAGE_SIZE = 2000  # the connector's default page_size (Sforce-Query-Options: batchSize)

parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--accounts", type=int, default=20000)
parser.add_argument("--updates", type=int, default=5000)
parser.add_argument("--poll-batch", type=int, default=1000)
parser.add_argument("--poll-interval-ms", type=int, default=200)
parser.add_argument("--timeout", type=int, default=900, help="seconds each daemon phase may take")
parser.add_argument("--json", action="store_true", help="print only the JSON line of results")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
N, M = args.accounts, min(args.updates, args.accounts)


def say(text=""):
    if not args.json:
        print(text, flush=True)


def soql_quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def emails_soql(ids):
    return (f"SELECT Id, AccountId, Email FROM Contact WHERE AccountId IN ({', '.join(soql_quote(i) for i in ids)}) AND Email != null "
            "ORDER BY AccountId ASC, CreatedDate ASC, Id ASC")


def incremental_soql(stamp):
    return f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM Account WHERE SystemModstamp >= {stamp} ORDER BY SystemModstamp ASC, Id ASC"


def soql_time(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def salesforce_seconds(text):
    """Epoch seconds of `2026-12-06T15:50:00.000+0000` (Salesforce's REST time stamps)."""
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeSalesforce:
    """The fake Salesforce with its connected app trusting a key pair made for the run (openssl), seeded with N
    accounts and their N contacts, its request log in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chbench-salesforce-", dir="/tmp")
        self.key = f"{self.dir}/app.key"
        subprocess.run(["openssl", "genrsa", "-out", self.key, "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", self.key, "-pubout", "-out", f"{self.dir}/app.pub"], check=True, capture_output=True)
        self.log = f"{self.dir}/salesforce.log"
        self.proc, self.url = benchdaemon.start_loopback(
            [sys.executable, f"{ROOT}/Tests/Fakes/salesforce/fake_salesforce.py", "--port", "0", "--consumer-key", CONSUMER_KEY,
             "--username", USERNAME, "--certificate", f"{self.dir}/app.pub"], log=self.log)
        parts = urllib.parse.urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        stamp = int(time.time()) - 86_400  # history: a day ago, behind the look-back
        self.accounts = []
        for at in range(0, N, 10_000):
            count = min(10_000, N - at)
            self.accounts += self.control("seed", {"object": "Account", "stamp_at": stamp, "records": [
                {"Name": f"Acme {i}", "Website": f"https://acme{i}.test", "Phone": "+1 617 555 0000", "Industry": "Manufacturing",
                 "BillingStreet": f"{i} Main St", "BillingCity": "Boston", "BillingState": "MA", "BillingPostalCode": "02110",
                 "BillingCountry": "United States"} for i in range(at, at + count)]})["ids"]
            self.control("seed", {"object": "Contact", "stamp_at": stamp, "records": [
                {"FirstName": "Ann", "LastName": f"Buyer {i}", "Email": f"ann{i}@acme{i}.test", "AccountId": self.accounts[i]}
                for i in range(at, at + count)]})
        if len(self.accounts) != N:
            raise SystemExit(f"the fake Salesforce seeded {len(self.accounts)} accounts of {N}")
        step = max(1, N // M) if M else 1
        self.changed = self.accounts[::step][:M]
        self.rounds = 0

    def control(self, name, body=None):
        return benchdaemon.http_json(f"{self.url}/__fake__/{name}", "POST" if body is not None else "GET", body, timeout=300)

    def touch(self):
        """The M accounts changed (a new Phone each round): new SystemModstamps, new versions."""
        self.rounds += 1
        updated = self.control("touch", {"object": "Account", "ids": self.changed, "fields": {"Phone": f"+1 617 555 {self.rounds:04d}"}})["updated"]
        if len(updated) != M:
            raise SystemExit(f"the fake Salesforce changed {len(updated)} accounts of {M}")

    def log_mark(self):
        return os.path.getsize(self.log)

    def requests(self, since, until=None):
        """The API requests the fake answered between two log marks, by kind: (count, the fake's milliseconds)."""
        kinds = collections.OrderedDict()
        with open(self.log) as f:
            f.seek(since)
            text = f.read(None if until is None else until - since)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 6 or parts[0] != "fake-salesforce" or parts[2].startswith("/__fake__"):
                continue
            method, path, status, elapsed = parts[1], parts[2], parts[4], float(parts[5].rstrip("ms"))
            rest = path[len(API):] if path.startswith(API) else path
            if path == "/services/oauth2/token":
                kind = "token"
            elif rest == "/jobs/query":
                kind = "Bulk job created"
            elif rest.startswith("/jobs/query/") and rest.endswith("/results"):
                kind = "Bulk results pages"
            elif rest.startswith("/jobs/query/"):
                kind = "Bulk job deleted" if method == "DELETE" else "Bulk job state"
            elif rest == "/queryAll":
                kind = "queryAll"
            elif rest.startswith("/queryAll/") or rest.startswith("/query/"):
                kind = "nextRecordsUrl pages"
            elif rest == "/query":
                kind = "query (contacts' emails)"
            else:
                kind = f"{method} {rest}"
            if not status.startswith("2"):
                kind += f" ({status})"
            count, ms = kinds.get(kind, (0, 0.0))
            kinds[kind] = (count + 1, ms + elapsed)
        return kinds

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def machine_busy():
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def others(busy, ours):
    """CPU seconds other processes used on the machine in a phase: all busy time less ours and this script's."""
    return max(0.0, busy - sum(ours.values()))


def plugin_pids(daemon):
    return [p for p in benchdaemon.children(daemon.proc.pid) if b"connector-salesforce" in open(f"/proc/{p}/cmdline", "rb").read()]


def through_the_daemon(fake):
    connectors = (f'[[connector]]\nid = "crm"\nplugin = "salesforce"\npoll_batch = {args.poll_batch}\npoll_interval_ms = {args.poll_interval_ms}\n'
                  f'[connector.config]\nlogin_url = "{fake.url}"\nclient_id = "{CONSUMER_KEY}"\nusername = "{USERNAME}"\ncurrency = "USD"\n'
                  f'streams = ["accounts"]\n')
    private_key = open(fake.key).read()
    fake_cpu = benchdaemon.cpu_seconds(fake.proc.pid)
    mark = fake.log_mark()
    busy0, own0 = machine_busy(), time.process_time()
    d = benchdaemon.Daemon(BIN, connectors, secrets=[("crm", "private_key", private_key)], prefix="chsalesforce-")
    try:
        # 1. The Bulk backfill: from the daemon's start to the last of the N events stored.
        d.wait("SELECT COUNT(*) FROM events WHERE connector = 'crm'", N, timeout=args.timeout)
        backfill_seconds = d.since_start("SELECT MAX(received_at) FROM events WHERE connector = 'crm'")
        first_call = min((c["at"] for c in fake.control("calls")["calls"] if not c["path"].startswith("/__fake__")), default=d.started_wall)
        with d.db() as c:
            last_id, stored = c.execute("SELECT MAX(id), COUNT(*) FROM events WHERE connector = 'crm'").fetchone()
            with_email = c.execute("SELECT COUNT(*) FROM events WHERE connector = 'crm' AND CAST(payload AS TEXT) LIKE '%@acme%'").fetchone()[0]
        plugins = plugin_pids(d)
        cpu1 = {"daemon": benchdaemon.cpu_seconds(d.proc.pid), "plugin": sum(benchdaemon.cpu_seconds(p) for p in plugins),
                "fake": benchdaemon.cpu_seconds(fake.proc.pid) - fake_cpu}
        other1 = others(machine_busy() - busy0, {**cpu1, "script": time.process_time() - own0})
        if stored != N or with_email != N:
            raise SystemExit(f"the backfill went wrong: {stored} accounts stored of {N}, {with_email} with their contact's email")
        time.sleep(1)  # the connector ends its backfill (the job deleted) and catches up: idle polls only
        mark2 = fake.log_mark()
        cpu1b = {"daemon": benchdaemon.cpu_seconds(d.proc.pid), "plugin": sum(benchdaemon.cpu_seconds(p) for p in plugins),
                 "fake": benchdaemon.cpu_seconds(fake.proc.pid) - fake_cpu}
        busy1, own1 = machine_busy(), time.process_time()

        # 2. Incremental reads: from the change to the last of the M new versions stored.
        fake.touch()
        changed_at = time.time()
        d.wait(f"SELECT COUNT(DISTINCT object_id) FROM events WHERE connector = 'crm' AND id > {last_id}", M, timeout=args.timeout)
        with d.db() as c:
            last = c.execute(f"SELECT MAX(received_at) FROM events WHERE connector = 'crm' AND id > {last_id}").fetchone()[0] / 1000
            changed = c.execute(f"SELECT COUNT(*) FROM events WHERE connector = 'crm' AND id > {last_id} AND CAST(payload AS TEXT) LIKE "
                                f"'%617 555 {fake.rounds:04d}%'").fetchone()[0]
        # The clock starts at the connector's first query after the change: a caught-up stream asks again only
        # after its idle_interval_s (default 60 s), a wait the run reports apart.
        asked = min((c["at"] for c in fake.control("calls")["calls"] if c["path"].endswith("/queryAll") and c["at"] >= changed_at), default=changed_at)
        incremental_seconds = last - asked
        cpu2 = {"daemon": benchdaemon.cpu_seconds(d.proc.pid), "plugin": sum(benchdaemon.cpu_seconds(p) for p in plugins),
                "fake": benchdaemon.cpu_seconds(fake.proc.pid) - fake_cpu}
        other2 = others(machine_busy() - busy1, {**{k: cpu2[k] - cpu1b[k] for k in cpu2}, "script": time.process_time() - own1})
        mark3 = fake.log_mark()
        # What a caught-up connector costs afterwards: 3 s of idle polls (the look-back window holds the M changes).
        time.sleep(3)
        mark4 = fake.log_mark()
        cpu3 = {"daemon": benchdaemon.cpu_seconds(d.proc.pid), "plugin": sum(benchdaemon.cpu_seconds(p) for p in plugins),
                "fake": benchdaemon.cpu_seconds(fake.proc.pid) - fake_cpu}
        with d.db() as c:
            after = c.execute("SELECT COUNT(*) FROM events WHERE connector = 'crm'").fetchone()[0]
        status = json.loads(d.hostctl("connectors", "--json"))
        if changed < M:
            raise SystemExit(f"the incremental read went wrong: {changed} of the {M} changed accounts stored with their change")
    finally:
        d.stop()
    def find_gauges(value):
        if isinstance(value, dict):
            if isinstance(value.get("gauges"), dict) and any(k.startswith("salesforce_") for k in value["gauges"]):
                return value["gauges"]
            value = list(value.values())
        for item in value if isinstance(value, list) else []:
            found = find_gauges(item)
            if found:
                return found
        return {}
    gauges = find_gauges(status)
    return {"backfill_seconds": backfill_seconds, "backfill_from_first_request": backfill_seconds - (first_call - d.started_wall),
            "incremental_seconds": incremental_seconds, "idle_wait": asked - changed_at,
            "cpu_backfill": cpu1, "cpu_incremental": {k: cpu2[k] - cpu1b[k] for k in cpu2},
            "cpu_idle_3s": {k: cpu3[k] - cpu2[k] for k in cpu3}, "others": [other1, other2], "events_after_idle": after - N - M,
            "requests_backfill": fake.requests(mark, mark2), "requests_incremental": fake.requests(mark2, mark3),
            "requests_idle_3s": fake.requests(mark3, mark4), "api_requests": gauges}


class PlainClient:
    """A plain Python Salesforce client: http.client on one keep-alive connection, json, csv."""

    def __init__(self, fake):
        self.fake = fake
        self.conn = http.client.HTTPConnection(fake.host, fake.port, timeout=120)
        self.token = None

    def send(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status >= 300:
            raise SystemExit(f"plain client: {method} {path[:120]}: {answer.status} {data[:300]!r}")
        return answer, data

    def api(self, method, path, body=None, headers=None):
        return self.send(method, path, None if body is None else json.dumps(body),
                         {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **({"Content-Type": "application/json"} if body is not None else {}),
                          **(headers or {})})

    def sign_in(self):
        """OAuth JWT-bearer: an RS256 assertion signed with the app's private key (openssl)."""
        head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        claims = b64url(json.dumps({"iss": CONSUMER_KEY, "sub": USERNAME, "aud": AUDIENCE, "exp": int(time.time()) + 180}).encode())
        signing_input = f"{head}.{claims}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.fake.key], input=signing_input.encode(),
                                   capture_output=True, check=True).stdout
        form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": f"{signing_input}.{b64url(signature)}"})
        _, data = self.send("POST", "/services/oauth2/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.token = json.loads(data)["access_token"]

    def query(self, endpoint, soql):
        """Every record of a SOQL query, page by page (nextRecordsUrl)."""
        _, data = self.api("GET", f"{API}/{endpoint}?{urllib.parse.urlencode({'q': soql})}", headers={"Sforce-Query-Options": f"batchSize={PAGE_SIZE}"})
        page = json.loads(data)
        yield page["records"]
        while page.get("nextRecordsUrl"):
            _, data = self.api("GET", page["nextRecordsUrl"], headers={"Sforce-Query-Options": f"batchSize={PAGE_SIZE}"})
            page = json.loads(data)
            yield page["records"]

    def with_emails(self, accounts):
        """The accounts' contacts' emails, 200 accounts a query (the first contact's, as the connector keeps)."""
        emails = {}
        live = [a["Id"] for a in accounts if str(a.get("IsDeleted")).lower() != "true"]
        for at in range(0, len(live), 200):
            for records in self.query("query", emails_soql(live[at:at + 200])):
                for contact in records:
                    emails.setdefault(contact["AccountId"], contact["Email"])
        for account in accounts:
            account["email"] = emails.get(account["Id"])
        return accounts

    def backfill(self):
        """The Bulk API 2.0 query job, its state polled as the connector does, its CSV pages, the emails."""
        _, data = self.api("POST", f"{API}/jobs/query", {"operation": "query", "query": BULK_SOQL, "contentType": "CSV", "columnDelimiter": "COMMA",
                                                         "lineEnding": "LF"})
        job = json.loads(data)
        delay = 0.1
        while True:
            _, data = self.api("GET", f"{API}/jobs/query/{job['id']}")
            state = json.loads(data)["state"]
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                raise SystemExit(f"plain client: the Bulk job {state}")
            time.sleep(delay)
            delay = min(delay * 2, 0.8)
        read, locator = [], None
        while True:
            query = {"maxRecords": str(args.poll_batch), **({"locator": locator} if locator else {})}
            answer, data = self.send("GET", f"{API}/jobs/query/{job['id']}/results?{urllib.parse.urlencode(query)}",
                                     headers={"Authorization": f"Bearer {self.token}", "Accept": "text/csv"})
            rows = csv.reader(io.StringIO(data.decode("utf-8")))
            header = next(rows)
            read += self.with_emails([dict(zip(header, row)) for row in rows])
            locator = answer.getheader("Sforce-Locator")
            if not locator or locator == "null":
                break
        self.api("DELETE", f"{API}/jobs/query/{job['id']}")
        return read, salesforce_seconds(job["createdDate"])

    def incremental(self, stamp):
        """queryAll by SystemModstamp from `stamp`, nextRecordsUrl pages, the emails of each page."""
        read = []
        for records in self.query("queryAll", incremental_soql(stamp)):
            read += self.with_emails(records)
        return read


def directly(fake):
    fake_cpu = benchdaemon.cpu_seconds(fake.proc.pid)
    mark = fake.log_mark()
    busy = machine_busy()
    cpu = time.process_time()
    start = time.monotonic()
    client = PlainClient(fake)
    client.sign_in()
    accounts, created = client.backfill()
    backfill_seconds = time.monotonic() - start
    backfill_cpu = time.process_time() - cpu
    fake_backfill_cpu = benchdaemon.cpu_seconds(fake.proc.pid) - fake_cpu
    other1 = others(machine_busy() - busy, {"client": backfill_cpu, "fake": fake_backfill_cpu})
    if len(accounts) != N or sum(1 for a in accounts if a["email"]) != N:
        raise SystemExit(f"the plain client's backfill went wrong: {len(accounts)} accounts of {N}")
    mark2 = fake.log_mark()
    fake.touch()
    fake_cpu = benchdaemon.cpu_seconds(fake.proc.pid)
    busy = machine_busy()
    cpu = time.process_time()
    start = time.monotonic()
    changed = client.incremental(soql_time(created - LOOKBACK_S))
    incremental_seconds = time.monotonic() - start
    incremental_cpu = {"client": time.process_time() - cpu, "fake": benchdaemon.cpu_seconds(fake.proc.pid) - fake_cpu}
    other2 = others(machine_busy() - busy, incremental_cpu)
    phone = f"+1 617 555 {fake.rounds:04d}"
    if len(changed) != M or sum(1 for a in changed if a["Phone"] == phone and a["email"]) != M:
        raise SystemExit(f"the plain client's incremental read went wrong: {len(changed)} accounts of {M}")
    return {"backfill_seconds": backfill_seconds, "incremental_seconds": incremental_seconds,
            "cpu_backfill": {"client": backfill_cpu, "fake": fake_backfill_cpu},
            "cpu_incremental": incremental_cpu, "others": [other1, other2],
            "requests_backfill": fake.requests(mark, mark2), "requests_incremental": fake.requests(mark2)}


def show_requests(title, kinds):
    total = sum(n for n, _ in kinds.values())
    ms = sum(t for _, t in kinds.values())
    say(f"              {title}: {total:,} requests, the fake answering {ms / 1000:.2f} s: " +
        ", ".join(f"{k} {n:,} ({t / 1000:.2f} s)" for k, (n, t) in kinds.items()))


fake = FakeSalesforce()
try:
    ours = through_the_daemon(fake)
    direct = directly(fake)
finally:
    fake.stop()
    fake.remove()

b_rate, b_direct = N / ours["backfill_seconds"], N / direct["backfill_seconds"]
i_rate, i_direct = M / ours["incremental_seconds"], M / direct["incremental_seconds"]
cpu = lambda d: ", ".join(f"{k} {v:.2f}" for k, v in d.items())  # noqa: E731
say(f"  salesforce  {N:,} accounts (each with a contact's email) from the fake Salesforce into the store by the daemon and connector-salesforce "
    f"(streams [\"accounts\"], default settings, poll_batch {args.poll_batch}, poll_interval_ms {args.poll_interval_ms}), beside a plain Python client")
say()
say(f"  {'':<44} {'daemon':>14} {'plain client':>14} {'daemon/plain':>13}")
say(f"  {'Bulk backfill, ' + format(N, ',') + ' accounts':<44} {b_rate:>10,.0f} r/s {b_direct:>10,.0f} r/s {b_rate / b_direct:>13.2f}")
say(f"  {'':<44} {ours['backfill_seconds']:>12.2f} s {direct['backfill_seconds']:>12.2f} s")
say(f"  {'incremental reads, ' + format(M, ',') + ' changed accounts':<44} {i_rate:>10,.0f} r/s {i_direct:>10,.0f} r/s {i_rate / i_direct:>13.2f}")
say(f"  {'':<44} {ours['incremental_seconds']:>12.2f} s {direct['incremental_seconds']:>12.2f} s")
say()
say(f"  daemon run  backfill: {ours['backfill_seconds']:.2f} s from the daemon's start, {ours['backfill_from_first_request']:.2f} s from its first "
    f"request to the fake ({N / ours['backfill_from_first_request']:,.0f} accounts/s)")
say(f"              incremental: the first query {ours['idle_wait']:.2f} s after the change (idle_interval_s), the last change stored "
    f"{ours['incremental_seconds']:.2f} s after that query")
say(f"              CPU seconds, backfill: {cpu(ours['cpu_backfill'])}; incremental: {cpu(ours['cpu_incremental'])}")
show_requests("backfill", ours["requests_backfill"])
show_requests("incremental", ours["requests_incremental"])
show_requests("then 3 s caught up", ours["requests_idle_3s"])
say(f"              in those 3 s: CPU {cpu(ours['cpu_idle_3s'])}; {ours['events_after_idle']} more events stored; plugin gauges {ours['api_requests']}")
say(f"              other processes on the machine meanwhile: {ours['others'][0]:.2f} CPU s during the backfill, {ours['others'][1]:.2f} during "
    "the incremental reads")
say(f"  plain run   CPU seconds, backfill: {cpu(direct['cpu_backfill'])}; incremental: {cpu(direct['cpu_incremental'])}")
show_requests("backfill", direct["requests_backfill"])
show_requests("incremental", direct["requests_incremental"])
say(f"              other processes on the machine meanwhile: {direct['others'][0]:.2f} CPU s during the backfill, {direct['others'][1]:.2f} during "
    "the incremental reads")
print(json.dumps({"accounts": N, "updates": M, "poll_batch": args.poll_batch,
                  "backfill_per_s": round(b_rate, 1), "direct_backfill_per_s": round(b_direct, 1), "backfill_ratio": round(b_rate / b_direct, 2),
                  "incremental_per_s": round(i_rate, 1), "direct_incremental_per_s": round(i_direct, 1), "incremental_ratio": round(i_rate / i_direct, 2), "idle_wait_s": round(ours["idle_wait"], 2),
                  "other_cpu_s": {"daemon_run": [round(x, 2) for x in ours["others"]], "direct_run": [round(x, 2) for x in direct["others"]]},
                  "cpu": {"backfill": {k: round(v, 2) for k, v in ours["cpu_backfill"].items()},
                          "incremental": {k: round(v, 2) for k, v in ours["cpu_incremental"].items()},
                          "direct_backfill": {k: round(v, 2) for k, v in direct["cpu_backfill"].items()},
                          "direct_incremental": {k: round(v, 2) for k, v in direct["cpu_incremental"].items()}}}))

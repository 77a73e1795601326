#!/usr/bin/env python3
"""The issue's check "a window of 10,000 invoices reconciled in under a minute", measured: a `[[reconcile]]` of
connector-stripe (source) against connector-odoo (target), types ["invoice"], window_days 35, run on demand by
`hostctl reconcile run NAME --json` and timed by the wall clock, a few times in a row.

The fakes, on loopback, filled before the clock starts:
- Stripe: Tests/Fakes/stripe/fake_stripe.py (our own; localstripe has no invoice without a subscription and no
  finalize), N finalized, open invoices in EUR of one customer, one line each with its own amount, through the
  fake's one-call control `POST /__fake__/invoice` (the fake has no bulk control: each call scans every object it
  holds, so the fill grows with N²: about 3 minutes for 10,000).
- Odoo: Tests/Fakes/odoo/fake_odoo.py (`--version`, seed "fresh", company 2 in EUR), the matching posted customer
  invoices with `ref` = `ch:stripe:invoice:<id>` (what the sink writes), the same total (one line, no tax) and
  `invoice_date` = the UTC day the Stripe invoice is dated by (its finalization), over JSON-RPC: `create` of
  1,000 at a time, then `action_post` of those ids, fed while Stripe is still being filled. The first invoice is
  numbered by posting it; the others are created with the number posting would give next (the fake numbers each
  post by scanning every entry: posting 3,000 unnumbered drafts took 20 s, 10,000 would take minutes).
On purpose, the sides differ: 3 invoices missing in Odoo, 2 with another amount (+1.00 EUR), 1 written twice. The
benchmark stops with an error unless every run reports exactly those 6 differences and the totals they imply.

The daemon (connector-hostd of --bin, with connector-stripe, connector-odoo and hostctl beside it) starts after the
fill, both connectors polling once an hour and Stripe's `backfill_days = 0`, so that nothing is ingested while the
clock runs; keys are stored with `hostctl secret set`. No route. Printed: invoices per side, each run's wall time
and the report's finished_at − started_at, the differences found, invoices reconciled per second (source
invoices / wall time), CPU seconds of the daemon, each plugin and each fake over the runs, what each fake spent
answering the list calls (from its request log), and each side's snapshot asked alone (`hostctl reconcile
CONNECTOR --side … --items`) with the size of its answer, so that the time can be split between the sides and
the host's compare and store.

usage: scripts/bench-reconcile.py [--bin .build/release] [--invoices N] [--runs R] [--version 17|19] [--json]
  --json: print only the JSON line of results.
"""
import argparse, datetime, http.client, json, os, queue, shlex, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRIPE_KEY = "sk_test_bench_reconcile"
ODOO_KEY = "bench-reconcile-key"
SOURCE, TARGET, NAME = "stripe", "erp", "stripe-odoo"
COMPANY = 2  # "My Company (Europe)" of the fake's fresh seed, in EUR
BATCH = 1000  # Odoo records per create / action_post call, as the connector's search_read pages
parser = argparse.ArgumentParser()
parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"), help="the release binaries (default .build/release)")
parser.add_argument("--invoices", type=int, default=10000, help="invoices in Stripe (default 10,000)")
parser.add_argument("--runs", type=int, default=3, help="timed runs of hostctl reconcile run (default 3)")
parser.add_argument("--version", type=int, default=19, choices=[17, 19], help="the fake Odoo's version (default 19)")
parser.add_argument("--json", action="store_true", help="print only the JSON line of results")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
N = args.invoices
if N < 20:
    parser.error("--invoices must be at least 20 (6 of them differ on purpose)")
if args.runs < 1:
    parser.error("--runs must be at least 1")
COMMAND = shlex.join(["scripts/bench-reconcile.py", "--bin", os.path.relpath(BIN, ROOT) if BIN.startswith(ROOT + os.sep) else args.bin,
                      "--invoices", str(N), "--runs", str(args.runs), "--version", str(args.version)] + (["--json"] if args.json else []))

# The differences made on purpose, by position in the fill (spread over the pages of both sides).
MISSING = {N // 4, N // 2, 3 * N // 4}
CHANGED = {N // 3, 2 * N // 3}
TWICE = {N // 5}
assert len(MISSING | CHANGED | TWICE) == 6
CHANGE_MINOR = 100


def say(text=""):
    if not args.json:
        print(text, flush=True)


class Fake:
    """A fake of Tests/Fakes on a loopback port, its request log kept in a file to read each run's part of."""

    def __init__(self, name, argv, scratch):
        self.log = os.path.join(scratch, f"{name}.log")
        self.proc, self.url = benchdaemon.start_loopback([sys.executable, *argv], log=self.log)
        host, port = self.url[len("http://"):].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port))

    def post(self, path, body, headers=None):
        self.conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})})
        answer = self.conn.getresponse()
        data = json.loads(answer.read())
        if answer.status != 200:
            raise SystemExit(f"POST {path}: {answer.status} {json.dumps(data)[:500]}")
        return data

    def log_mark(self):
        return os.path.getsize(self.log)

    def requests(self, start, end):
        """(what, milliseconds) of each request logged between two marks: `<fake> METHOD /path -> STATUS 1.2ms note`."""
        with open(self.log) as f:
            f.seek(start)
            text = f.read(end - start)
        found = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[3] == "->" and parts[5].endswith("ms"):
                found.append((" ".join([parts[1], parts[2]] + parts[6:]), float(parts[5][:-2])))
        return found

    def cpu_seconds(self):
        return benchdaemon.cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Odoo(Fake):
    def execute(self, model, method, args_, **kwargs):
        """execute_kw over JSON-RPC (17 and 19 alike); the API key is the password."""
        answer = self.post("/jsonrpc", {"jsonrpc": "2.0", "id": 1, "method": "call", "params": {
            "service": "object", "method": "execute_kw", "args": ["bench", 2, ODOO_KEY, model, method, args_, kwargs]}})
        if "error" in answer:
            raise SystemExit(f"{model}.{method}: {json.dumps(answer['error'])[:800]}")
        return answer.get("result")


def fill(stripe, odoo):
    """N invoices in Stripe and, fed by a second thread as they come, their bookings in Odoo. Returns the Stripe
    invoices [(id, total minor, day)] and the seconds each side took."""
    context = {"allowed_company_ids": [COMPANY]}
    euro = odoo.execute("res.currency", "search_read", [[["name", "=", "EUR"]]], fields=["id"])[0]["id"]
    partner = odoo.execute("res.partner", "create", [[{"name": "Bench customer", "is_company": True}]], context=context)[0]
    invoices, todo, done = [], queue.Queue(), {}

    def booking(position, invoice_id, total, day, name):
        return {"move_type": "out_invoice", "partner_id": partner, "currency_id": euro, "ref": f"ch:{SOURCE}:invoice:{invoice_id}",
                "invoice_date": day, **({"name": name} if name else {}),
                "invoice_line_ids": [[0, 0, {"name": "Subscription", "quantity": 1,
                                             "price_unit": (total + (CHANGE_MINOR if position in CHANGED else 0)) / 100}]]}

    def odoo_side():
        started, numbering, batch = time.monotonic(), None, []
        def flush():
            nonlocal numbering
            vals = []
            for position, invoice_id, total, day in batch:
                copies = 0 if position in MISSING else 2 if position in TWICE else 1
                for _ in range(copies):
                    if numbering is None:  # the first one numbered by posting it: the others follow its sequence
                        first = odoo.execute("account.move", "create", [[booking(position, invoice_id, total, day, None)]], context=context)
                        odoo.execute("account.move", "action_post", [first], context=context)
                        name = odoo.execute("account.move", "read", [first], fields=["name"], context=context)[0]["name"]
                        prefix, number = name.rsplit("/", 1)
                        numbering = [prefix, int(number), len(number)]
                        continue
                    numbering[1] += 1
                    vals.append(booking(position, invoice_id, total, day, f"{numbering[0]}/{numbering[1]:0{numbering[2]}d}"))
            if vals:
                ids = odoo.execute("account.move", "create", [vals], context=context)
                odoo.execute("account.move", "action_post", [ids], context=context)
            batch.clear()
        try:
            while True:
                item = todo.get()
                if item is None:
                    break
                batch.append(item)
                if len(batch) == BATCH:
                    flush()
            flush()
            done["odoo"] = time.monotonic() - started
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            done["error"] = error

    worker = threading.Thread(target=odoo_side)
    worker.start()
    started, customer = time.monotonic(), {"name": "Bench customer", "email": "bench@example.com"}
    try:
        for position in range(N):
            total = 1_000 + (position * 7_919) % 99_000  # 10.00 … 1,000.00 EUR, each its own
            invoice = stripe.post("/__fake__/invoice", {"customer": customer, "currency": "eur",
                                                        "lines": [{"amount": total, "description": "Subscription"}]})
            customer = invoice["customer"]
            if invoice["status"] != "open" or invoice["total"] != total:
                raise SystemExit(f"the fake Stripe made {invoice['status']} invoice {invoice['id']} of {invoice['total']}, not open of {total}")
            day = datetime.datetime.fromtimestamp(invoice["status_transitions"]["finalized_at"], datetime.timezone.utc).strftime("%Y-%m-%d")
            invoices.append((invoice["id"], total, day))
            todo.put((position, invoice["id"], total, day))
            if (position + 1) % 1000 == 0:
                if "error" in done:
                    break  # the Odoo side failed: raised below
                say(f"              filled {position + 1:,} of {N:,} ({time.monotonic() - started:.0f} s)")
    finally:
        todo.put(None)
        worker.join()
    if "error" in done:
        raise done["error"]
    return invoices, time.monotonic() - started, done["odoo"]


def expected_report(invoices):
    """What every run must find: the kinds and source ids of the differences, and the invoice totals."""
    items = sorted([("missing_in_target", invoices[p][0]) for p in MISSING] + [("amount_mismatch", invoices[p][0]) for p in CHANGED]
                   + [("duplicate_in_target", invoices[p][0]) for p in TWICE])
    source_total = sum(total for _, total, _ in invoices)
    target_total = source_total - sum(invoices[p][1] for p in MISSING) + CHANGE_MINOR * len(CHANGED) + sum(invoices[p][1] for p in TWICE)
    totals = [{"object_type": "invoice", "currency": "EUR", "source_count": N, "source_total_minor": source_total,
               "target_count": N - len(MISSING) + len(TWICE), "target_total_minor": target_total}]
    return items, totals


def check(report, items, totals):
    found = sorted((item["kind"], item.get("source_id")) for item in report["items"])
    problems = []
    if report["outcome"] != "drift" or report.get("error"):
        problems.append(f"outcome {report['outcome']} ({report.get('error')}), not drift")
    if found != items:
        problems.append(f"differences {found[:12]}{' …' if len(found) > 12 else ''} ({len(found)}), not {items}")
    if report["drift"] != len(items):
        problems.append(f"drift {report['drift']}, not {len(items)}")
    if report["totals"] != totals:
        problems.append(f"totals {report['totals']}, not {totals}")
    if problems:
        raise SystemExit("the reconciliation did not find what was made different:\n  " + "\n  ".join(problems))


def run_hostctl(d, argv):
    """Wall seconds, exit status and stdout of one hostctl call."""
    started = time.monotonic()
    done = subprocess.run([f"{BIN}/hostctl", *argv, "--socket", f"{d.dir}/run/admin.sock"], capture_output=True, text=True)
    return time.monotonic() - started, done.returncode, done.stdout, done.stderr


def summed(requests, wanted):
    """Count and seconds of the logged requests `wanted` picks by their description."""
    chosen = [ms for what, ms in requests if wanted(what.split())]
    return len(chosen), sum(chosen) / 1000


def wait_quiet(fakes, seconds=1.0, timeout=60):
    """Until no fake logged a request for `seconds` (the connectors' first polls are over)."""
    deadline, last, since = time.time() + timeout, None, time.monotonic()
    while time.time() < deadline:
        marks = [f.log_mark() for f in fakes]
        if marks != last:
            last, since = marks, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.1)


scratch = tempfile.mkdtemp(prefix="chreconcile-", dir="/tmp")
stripe = odoo = d = None
try:
    stripe = Fake("stripe", [f"{ROOT}/Tests/Fakes/stripe/fake_stripe.py", "--port", "0", "--api-key", STRIPE_KEY], scratch)
    odoo = Odoo("odoo", [f"{ROOT}/Tests/Fakes/odoo/fake_odoo.py", "--version", str(args.version), "--port", "0", "--db", "bench",
                         "--api-key", ODOO_KEY], scratch)
    say(f"  reconcile   filling the fake Stripe and the fake Odoo {args.version} with {N:,} invoices (not timed)")
    invoices, stripe_fill, odoo_fill = fill(stripe, odoo)
    expected_items, expected_totals = expected_report(invoices)
    posted = odoo.execute("account.move", "search_count", [[["move_type", "=", "out_invoice"], ["state", "=", "posted"]]],
                          context={"allowed_company_ids": [1, COMPANY]})
    if posted != N - len(MISSING) + len(TWICE):
        raise SystemExit(f"the fake Odoo holds {posted} posted invoices, not {N - len(MISSING) + len(TWICE)}")
    say(f"              filled in {stripe_fill:.0f} s (Stripe's control calls; the Odoo side, fed as they came, ended {odoo_fill:.0f} s after its start)")

    connectors = (
        f'[[connector]]\nid = "{SOURCE}"\nplugin = "stripe"\npoll_interval_ms = 3600000\n[connector.config]\n'
        f'api_base = "{stripe.url}"\nbackfill_days = 0\n\n'
        f'[[connector]]\nid = "{TARGET}"\nplugin = "odoo"\npoll_interval_ms = 3600000\n[connector.config]\nurl = "{odoo.url}"\n'
        f'database = "bench"\nlogin = "admin"\ncompanies = {{ "acme-eu" = {COMPANY} }}\ntaxes = {{ "{COMPANY}" = {{ "21" = 101 }} }}\n\n'
        f'[[reconcile]]\nname = "{NAME}"\nsource = "{SOURCE}"\ntarget = "{TARGET}"\ntypes = ["invoice"]\nwindow_days = 35\n'
    )
    d = benchdaemon.Daemon(BIN, connectors, secrets=[(SOURCE, "api_key", STRIPE_KEY), (TARGET, "api_key", ODOO_KEY)], prefix="chreconcile-")
    status = {}
    def running():
        status.update({c["id"]: c for c in json.loads(d.hostctl("connectors", "--json"))})
        return all(status.get(c, {}).get("state") == "running" for c in (SOURCE, TARGET))
    d.wait_for(running, 30)
    wait_quiet([stripe, odoo])
    plugin_pids = {c: status[c]["pid"] for c in (SOURCE, TARGET)}

    def cpu_now():
        return {"daemon": benchdaemon.cpu_seconds(d.proc.pid), **{f"connector-{status[c]['plugin']}": benchdaemon.cpu_seconds(pid)
                                                                  for c, pid in plugin_pids.items()},
                "fake Stripe": stripe.cpu_seconds(), "fake Odoo": odoo.cpu_seconds()}

    runs, cpu_before = [], cpu_now()
    for number in range(args.runs):
        marks = (stripe.log_mark(), odoo.log_mark())
        wall, code, out, err = run_hostctl(d, ["reconcile", "run", NAME, "--json"])
        if not out.strip():
            raise SystemExit(f"hostctl reconcile run {NAME} exited {code} without a report: {err.strip()}")
        report = json.loads(out)
        check(report, expected_items, expected_totals)
        if code != 1:
            raise SystemExit(f"hostctl reconcile run {NAME} exited {code} on a drift report, not 1")
        s_req, o_req = stripe.requests(marks[0], stripe.log_mark()), odoo.requests(marks[1], odoo.log_mark())
        runs.append({"wall_s": wall, "report_s": (report["finished_at"] - report["started_at"]) / 1000, "drift": report["drift"],
                     "stripe_pages": summed(s_req, lambda w: w[:2] == ["GET", "/v1/invoices"]),
                     "odoo_pages": summed(o_req, lambda w: w[-1] == "account.move.search_read"),
                     "stripe_requests": len(s_req), "odoo_requests": len(o_req)})
        say(f"              run {number + 1}: {wall:.2f} s wall, report {runs[-1]['report_s']:.2f} s, {report['drift']} differences")
    cpu_after = cpu_now()
    cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
    report_window = (report["from"], report["to"])

    # Each side alone, once, over the days the runs ask them for (the window and a margin day on each side).
    asked_from = (datetime.date.fromisoformat(report["from"]) - datetime.timedelta(days=1)).isoformat()
    asked_to = (datetime.date.fromisoformat(report["to"]) + datetime.timedelta(days=1)).isoformat()
    sides = {}
    for connector, side in ((SOURCE, "source"), (TARGET, "target")):
        wall, code, out, err = run_hostctl(d, ["reconcile", connector, "--side", side, "--from", asked_from, "--to", asked_to,
                                               "--type", "invoice", "--items", "--json"])
        if not out.strip():
            raise SystemExit(f"hostctl reconcile {connector} --side {side} exited {code}: {err.strip()}")
        snapshot = json.loads(out)["snapshot"]
        sides[side] = {"wall_s": wall, "records": sum(g["count"] for g in snapshot["groups"]),
                       "snapshot_bytes": len(json.dumps(snapshot, separators=(",", ":")).encode())}
    rss_mib = d.rss_kib() / 1024
finally:
    if d:
        d.stop()
    for fake in (stripe, odoo):
        if fake:
            fake.stop()
    shutil.rmtree(scratch, ignore_errors=True)

walls = [r["wall_s"] for r in runs]
best, median = min(walls), sorted(walls)[len(walls) // 2]
targets = N - len(MISSING) + len(TWICE)
say()
say(f"  reconcile   {N:,} Stripe invoices (fake_stripe.py) against {targets:,} Odoo invoices (fake Odoo {args.version}), window "
    f"{report_window[0]} … {report_window[1]} (35 days), types [\"invoice\"]: {len(expected_items)} differences found in every run "
    f"(3 missing in Odoo, 2 amounts, 1 written twice)")
say(f"              {'run':<4} {'wall s':>7} {'report s':>9} {'invoices/s':>11} {'Stripe pages':>13} {'fake Stripe s':>14} {'Odoo pages':>11} {'fake Odoo s':>12}")
for number, r in enumerate(runs, 1):
    say(f"              {number:<4} {r['wall_s']:>7.2f} {r['report_s']:>9.2f} {N / r['wall_s']:>11,.0f} {r['stripe_pages'][0]:>13} "
        f"{r['stripe_pages'][1]:>14.2f} {r['odoo_pages'][0]:>11} {r['odoo_pages'][1]:>12.2f}")
say(f"              median {median:.2f} s, best {best:.2f} s: {N / median:,.0f} source invoices reconciled per second "
    f"({'under' if median < 60 else 'OVER'} the minute)")
say(f"              CPU seconds over the {len(runs)} run{'s' if len(runs) > 1 else ''}: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()) + f"; daemon RSS after {rss_mib:.0f} MiB")
say("              each side alone (hostctl reconcile CONNECTOR --side … --items, the runs' days): " + ", ".join(
    f"{side} {v['wall_s']:.2f} s, {v['records']:,} records, snapshot {v['snapshot_bytes'] / 1_048_576:.1f} MiB as JSON" for side, v in sides.items()))
say(f"              (the fake Stripe and Odoo seconds are each fake's own time answering, from its request log; the sides run at once)")
say(f"  command     {COMMAND}")
print(json.dumps({"invoices": N, "target_invoices": targets, "odoo_version": args.version, "differences": len(expected_items),
                  "runs_wall_s": [round(w, 3) for w in walls], "runs_report_s": [round(r["report_s"], 3) for r in runs],
                  "median_s": round(median, 3), "invoices_per_s": round(N / median, 1), "under_a_minute": median < 60,
                  "stripe_list_pages": runs[-1]["stripe_pages"][0], "stripe_fake_s": [round(r["stripe_pages"][1], 2) for r in runs],
                  "odoo_search_read_pages": runs[-1]["odoo_pages"][0], "odoo_fake_s": [round(r["odoo_pages"][1], 2) for r in runs],
                  "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
                  "sides_alone": {k: {"wall_s": round(v["wall_s"], 3), "records": v["records"], "snapshot_bytes": v["snapshot_bytes"]} for k, v in sides.items()},
                  "fill_s": {"stripe": round(stripe_fill, 1), "odoo": round(odoo_fill, 1)}, "command": COMMAND}))

#!/usr/bin/env python3
"""Invoices per second from Chargebee (the fake Chargebee of Tests/Fakes/chargebee, on loopback) into Odoo (the
fake Odoo of Tests/Fakes/odoo) through the daemon, connector-chargebee and connector-odoo, beside a plain Python
client doing the same job in the same run, on fresh fakes.

N invoices in EUR (one subscription each, round-robin over N/10 customers, 21 % tax), each paid by a payment
transaction, are seeded in the fake Chargebee one second apart. The daemon reads its events feed (pages of 100,
unpaced) and the item prices once (backfill), and connector-odoo books each customer as a partner, each item price
as a product, each invoice (created, its total checked, posted) and each payment (registered on its invoice through
Odoo's payment wizard) in the EUR company. One invoice booked = the invoice posted and its payment registered.
The clock starts at the daemon's first request to the fake Chargebee and stops at its last delivery recorded. The
failed attempts, if any, are printed by event type and error (with the whole history backfilled, each paid invoice
waits once for the payment read right after it).

The direct client, on fresh fakes seeded the same way: one Python loop reading the item prices and the events feed
(`sort_by[asc]=occurred_at`, 100 a page, offset paging) and making, one call at a time, the Odoo calls a minimal
integration would: a partner per customer and a product per item price (ids kept in memory), per invoice a create
with its lines and tax, a read of its total, a post; per payment the payment wizard. It keeps no queue, no cursor,
no retries and no dedupe: a crash or an Odoo error midway loses or doubles records, which the daemon does not.

usage: scripts/bench-chargebee.py --bin .build/release [--invoices N] [--customers N] [--version 17|19]
                                  [--backfill item_prices] [--json]
  --version: the fake Odoo's (17: JSON-RPC, both clients; 19: JSON-2, both clients).
  --backfill: connector-chargebee's `backfill` list (comma-separated; "" for none). The fake's catalogue has no
    item_price_created events, so with none the invoices wait for products that never come (the run times out).
  --timeout: seconds the daemon's part may take (default 900).
  --json: print only the JSON line of results.
"""
import argparse, base64, collections, http.client, json, os, re, shutil, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHARGEBEE_KEY = "test_bench_chargebee_key"
ODOO_KEY = "bench-odoo-key"
EUR_COMPANY, EUR_CURRENCY, TAXES = 2, 125, {21: 101}  # the fake Odoo's fresh database: company 2 in EUR, its 21 % sale tax
FEE_ACCOUNT = 109  # 620000 Bank Fees of company 2 (the fake Chargebee reports no fees unless asked)
EVENTS = '["customer.*", "product.*", "invoice.*", "credit_note.*", "payment.*", "refund.*"]'
parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--invoices", type=int, default=1000)
parser.add_argument("--customers", type=int, help="default: invoices / 10")
parser.add_argument("--version", type=int, default=17, choices=[17, 19])
parser.add_argument("--backfill", default="item_prices")
parser.add_argument("--timeout", type=int, default=900, help="seconds the daemon run may take")
parser.add_argument("--json", action="store_true")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
N = args.invoices
CUSTOMERS = args.customers or max(1, N // 10)


def say(text):
    if not args.json:
        print(text, flush=True)


http_json = benchdaemon.http_json


class Fakes:
    """A fake Chargebee seeded with N paid invoices and an empty fake Odoo, their logs in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chbench-fakes-", dir="/tmp")
        self.chargebee, self.chargebee_url = benchdaemon.start_loopback(
            [sys.executable, f"{ROOT}/Tests/Fakes/chargebee/fake_chargebee.py", "--port", "0", "--api-key", CHARGEBEE_KEY, "--rate-limit", "0"],
            log=f"{self.dir}/chargebee.log")
        self.odoo, self.odoo_url = benchdaemon.start_loopback(
            [sys.executable, f"{ROOT}/Tests/Fakes/odoo/fake_odoo.py", "--version", str(args.version), "--port", "0", "--db", "bench",
             "--api-key", ODOO_KEY], log=f"{self.dir}/odoo.log")
        http_json(f"{self.chargebee_url}/__fake__/site", "POST", {"tax_rate": 21, "rate_limit": 0})
        start = int(time.time()) - (CUSTOMERS + N) - 3600  # one record a second, all in the past
        created = http_json(f"{self.chargebee_url}/__fake__/seed", "POST", {"customers": CUSTOMERS, "currency_code": "EUR", "invoices": N,
                                                                              "paid": True, "start_at": start, "step_seconds": 1})["created"]
        if created["invoices"] != N or created["transactions"] != N:
            raise SystemExit(f"the fake Chargebee seeded {created}")

    def odoo_state(self, model):
        return http_json(f"{self.odoo_url}/__fake__/state?model={model}")["models"][model]

    def booked(self, invoice_prefix, payment_prefix):
        """Posted and paid invoices, and posted payments, whose references start with the prefixes."""
        memo = "memo" if args.version >= 18 else "ref"
        invoices = [m for m in self.odoo_state("account.move") if m["move_type"] == "out_invoice" and (m.get("ref") or "").startswith(invoice_prefix)]
        payments = [p for p in self.odoo_state("account.payment") if (p.get(memo) or "").startswith(payment_prefix)]
        return (len([m for m in invoices if m["state"] == "posted" and m["payment_state"] in ("paid", "in_payment")]), len(invoices),
                len([p for p in payments if p["state"] in ("posted", "paid", "in_process")]), len(payments))

    def odoo_calls(self):
        """The model methods the fake Odoo answered (its log: `fake-odoo POST /path -> status 1.2ms what`), by name."""
        calls = collections.Counter()
        for line in open(f"{self.dir}/odoo.log"):
            parts = line.split()
            if len(parts) >= 6 and parts[0] == "fake-odoo" and parts[1] == "POST" and (parts[2] == "/jsonrpc" or parts[2].startswith("/json/2/")):
                calls[parts[-1]] += 1
        return calls

    def stop(self):
        for proc in (self.chargebee, self.odoo):
            proc.kill()
            proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


children = benchdaemon.children


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def name_of(pid):
    return os.path.basename(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace"))


def through_the_daemon(fakes):
    backfill = json.dumps([s for s in args.backfill.split(",") if s])
    connectors = (
        f'[[connector]]\nid = "billing"\nplugin = "chargebee"\nentity = "acme-eu"\npoll_batch = 1000\npoll_interval_ms = 1000\n'
        f'[connector.config]\napi_base = "{fakes.chargebee_url}/api/v2"\nrequests_per_minute = 0\npage_size = 100\nbackfill = {backfill}\n\n'
        f'[[connector]]\nid = "erp"\nplugin = "odoo"\npoll_interval_ms = 60000\n[connector.config]\nurl = "{fakes.odoo_url}"\n'
        f'database = "bench"\nlogin = "admin"\ncompanies = {{ "acme-eu" = {EUR_COMPANY} }}\n'
        f'taxes = {{ "{EUR_COMPANY}" = {{ {", ".join(f"{chr(34)}{r}{chr(34)} = {t}" for r, t in TAXES.items())} }} }}\n'
        f'fee_accounts = {{ "{EUR_COMPANY}" = {FEE_ACCOUNT} }}\n\n'
        f'[[route]]\nfrom = "billing"\nto = "erp"\nevents = {EVENTS}\nconcurrency = 32\n')
    cpu_fakes = {"fake Chargebee": benchdaemon.cpu_seconds(fakes.chargebee.pid), "fake Odoo": benchdaemon.cpu_seconds(fakes.odoo.pid)}
    d = benchdaemon.Daemon(BIN, connectors, secrets=[("billing", "api_key", CHARGEBEE_KEY), ("erp", "api_key", ODOO_KEY)], prefix="chchargebee-")
    try:
        finished = ("SELECT SUM(e.type LIKE 'invoice.%'), SUM(e.type LIKE 'payment.%') FROM deliveries d JOIN events e ON e.id = d.event_id "
                    "WHERE d.state IN ('delivered', 'dead', 'discarded')")
        deadline = time.time() + args.timeout
        while True:
            with d.db() as c:
                invoices, payments = (x or 0 for x in c.execute(finished).fetchone())
            if invoices >= N and payments >= N:
                break
            if time.time() > deadline or d.proc.poll() is not None:
                with d.db() as c:
                    waiting = c.execute("SELECT COUNT(*), MIN(d.last_error) FILTER (WHERE e.type LIKE 'invoice.%') FROM deliveries d "
                                        "JOIN events e ON e.id = d.event_id WHERE d.state = 'pending' AND d.last_error_class = 'dependency'").fetchone()
                raise SystemExit(f"the daemon run did not finish in {args.timeout} s: {invoices} invoice and {payments} payment deliveries done of {N}; "
                                 f"{waiting[0]} waiting on a dependency, e.g. {waiting[1]}")
            time.sleep(0.25)
        calls = http_json(f"{fakes.chargebee_url}/__fake__/calls")["calls"]
        api = [c for c in calls if c["path"].startswith("/api/v2")]
        start = min(c["at"] for c in api)
        with d.db() as c:
            last = c.execute("SELECT MAX(finished_at) FROM attempts").fetchone()[0] / 1000
            read = c.execute("SELECT MAX(received_at) FROM events WHERE connector = 'billing' AND type LIKE 'payment.%'").fetchone()[0] / 1000
            dead = c.execute("SELECT COUNT(*) FROM deliveries WHERE state IN ('dead', 'discarded')").fetchone()[0]
            failed = {}  # event type, outcome, the error with its numbers as N -> attempts, deliveries, the highest attempt number, an example
            for kind, outcome, number, delivery, error in c.execute(
                    "SELECT e.type, a.outcome, a.number, a.delivery_id, a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                    "JOIN events e ON e.id = d.event_id WHERE a.outcome NOT IN ('delivered', 'duplicate') ORDER BY a.id"):
                entry = failed.setdefault(f"{kind} {outcome}: {re.sub(r'[0-9]+', 'N', error or '')}", {"attempts": 0, "deliveries": set(), "most": 0, "e.g.": error})
                entry["attempts"] += 1
                entry["deliveries"].add(delivery)
                entry["most"] = max(entry["most"], number)
            deliveries = c.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        plugins = {name_of(p): p for p in children(d.proc.pid)}
        rss = {"daemon": peak_rss_mib(d.proc.pid), **{name: peak_rss_mib(pid) for name, pid in plugins.items()}}
        cpu = {"daemon": benchdaemon.cpu_seconds(d.proc.pid), "plugins": sum(benchdaemon.cpu_seconds(p) for p in plugins.values()),
               **{k: benchdaemon.cpu_seconds(p.pid) - v for k, p, v in (("fake Chargebee", fakes.chargebee, cpu_fakes["fake Chargebee"]),
                                                                         ("fake Odoo", fakes.odoo, cpu_fakes["fake Odoo"]))}}
    finally:
        d.stop()
    odoo_calls = fakes.odoo_calls()
    paid, invoices, posted, payments = fakes.booked("ch:billing:invoice:", "ch:billing:transaction:")
    if dead or paid != N or invoices != N or posted != N or payments != N:
        raise SystemExit(f"the daemon run went wrong: {dead} dead or discarded deliveries, {invoices} invoices in Odoo ({paid} posted and paid), "
                         f"{payments} payments ({posted} posted), of {N}")
    return {"seconds": last - start, "read_seconds": read - start, "chargebee_requests": len(api), "deliveries": deliveries,
            "failed_attempts": failed, "rss_mib": rss, "cpu": cpu, "odoo_calls": odoo_calls}


class Odoo:
    """The direct client's Odoo: JSON-RPC execute_kw (17) or JSON-2 (19), one keep-alive connection."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port)
        self.calls = 0
        self.uid = self.rpc("common", "authenticate", ["bench", "admin", ODOO_KEY, {}]) if args.version < 19 else None

    def post(self, path, body, headers):
        self.calls += 1
        self.conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
        answer = self.conn.getresponse()
        data = json.loads(answer.read())
        if answer.status != 200 or (isinstance(data, dict) and "error" in data):
            raise SystemExit(f"Odoo {path}: {answer.status} {data}")
        return data

    def rpc(self, service, method, rpc_args):
        return self.post("/jsonrpc", {"jsonrpc": "2.0", "method": "call", "id": self.calls, "params": {"service": service, "method": method,
                                                                                                       "args": rpc_args}}, {}).get("result")

    def call(self, model, method, ids=None, context=None, **named):
        """A model method: on records (`ids`) or with named arguments (`vals_list`, `fields`, ...)."""
        context = {"allowed_company_ids": [EUR_COMPANY], **(context or {})}
        if args.version >= 19:
            body = ({"ids": ids} if ids is not None else {}) | named | {"context": context}
            return self.post(f"/json/2/{model}/{method}", body, {"Authorization": f"bearer {ODOO_KEY}", "X-Odoo-Database": "bench"})
        positional = [ids] if ids is not None else [named.pop("vals_list")] if "vals_list" in named else []
        return self.rpc("object", "execute_kw", ["bench", self.uid, ODOO_KEY, model, method, positional, named | {"context": context}])


def directly(fakes):
    """The same job by a plain client, one call at a time (see the module's docstring)."""
    parts = urllib.parse.urlsplit(fakes.chargebee_url)
    chargebee = http.client.HTTPConnection(parts.hostname, parts.port)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{CHARGEBEE_KEY}:".encode()).decode()}

    def pages(resource, query):
        offset = None
        while True:
            q = dict(query, limit="100", **({"offset": offset} if offset else {}))
            chargebee.request("GET", f"/api/v2/{resource}?{urllib.parse.urlencode(q)}", headers=auth)
            answer = chargebee.getresponse()
            page = json.loads(answer.read())
            if answer.status != 200:
                raise SystemExit(f"Chargebee /{resource}: {answer.status} {page}")
            yield [entry[resource[:-1]] for entry in page["list"]]
            offset = page.get("next_offset")
            if not offset:
                return

    odoo = Odoo(fakes.odoo_url)
    odoo_cpu = benchdaemon.cpu_seconds(fakes.odoo.pid)
    partners, products, moves = {}, {}, {}
    start = time.monotonic()
    for page in pages("item_prices", {"sort_by[asc]": "updated_at"}):
        for price in page:
            kind = {"type": "service"} if args.version >= 18 else {"detailed_type": "service"}
            products[price["id"]] = odoo.call("product.product", "create", vals_list=[{
                "name": price["name"], "default_code": f"direct:item_price:{price['id']}", "sale_ok": True, "list_price": price["price"] / 100, **kind}])[0]
    booked = 0
    for page in pages("events", {"sort_by[asc]": "occurred_at"}):
        for event in page:
            kind, content = event["event_type"], event["content"]
            if kind == "customer_created":
                customer = content["customer"]
                name = " ".join(x for x in (customer.get("first_name"), customer.get("last_name")) if x) or customer.get("company") or customer["id"]
                values = {"name": name, "is_company": False, "ref": f"direct:customer:{customer['id']}"}
                if customer.get("email"):
                    values["email"] = customer["email"]
                partners[customer["id"]] = odoo.call("res.partner", "create", vals_list=[values])[0]
            elif kind == "invoice_generated":
                invoice = content["invoice"]
                rates = {t["line_item_id"]: int(t["tax_rate"]) for t in invoice.get("line_item_taxes", [])}
                lines = [[0, 0, {"name": line["description"], "product_id": products[line["entity_id"]], "quantity": line["quantity"],
                                 "price_unit": line["unit_amount"] / 100, "tax_ids": [[6, 0, [TAXES[rates[line["id"]]]] if line["id"] in rates else []]]}]
                         for line in invoice["line_items"]]
                move = odoo.call("account.move", "create", vals_list=[{
                    "move_type": "out_invoice", "partner_id": partners[invoice["customer_id"]], "currency_id": EUR_CURRENCY,
                    "company_id": EUR_COMPANY, "ref": f"direct:invoice:{invoice['id']}", "payment_reference": invoice["id"],
                    "invoice_date": time.strftime("%Y-%m-%d", time.gmtime(invoice["date"])), "invoice_line_ids": lines}])[0]
                total = odoo.call("account.move", "read", ids=[move], fields=["amount_total"])[0]["amount_total"]
                if round(total * 100) != invoice["total"]:
                    raise SystemExit(f"invoice {invoice['id']}: Odoo computes {total}, Chargebee says {invoice['total'] / 100}")
                odoo.call("account.move", "action_post", ids=[move])
                moves[invoice["id"]] = move
            elif kind == "payment_succeeded":
                txn = content["transaction"]
                move = moves[txn["linked_invoices"][0]["invoice_id"]]
                context = {"active_model": "account.move", "active_ids": [move]}
                wizard = odoo.call("account.payment.register", "create", context=context, vals_list=[{
                    "amount": txn["amount"] / 100, "payment_date": time.strftime("%Y-%m-%d", time.gmtime(txn["date"])),
                    "communication": f"direct:transaction:{txn['id']}"}])[0]
                odoo.call("account.payment.register", "action_create_payments", ids=[wizard], context=context)
                booked += 1
    seconds = time.monotonic() - start
    odoo_cpu = benchdaemon.cpu_seconds(fakes.odoo.pid) - odoo_cpu
    paid, invoices, posted, payments = fakes.booked("direct:invoice:", "direct:transaction:")
    if booked != N or paid != N or invoices != N or posted != N or payments != N:
        raise SystemExit(f"the direct run went wrong: {invoices} invoices in Odoo ({paid} posted and paid), {payments} payments ({posted} posted), of {N}")
    return {"seconds": seconds, "odoo_calls": fakes.odoo_calls(), "cpu": {"fake Odoo": odoo_cpu}}


fakes = Fakes()
try:
    ours = through_the_daemon(fakes)
finally:
    fakes.stop()
fakes = Fakes()  # empty again, as the daemon's run had them
try:
    direct = directly(fakes)
finally:
    fakes.stop()

rate, direct_rate = N / ours["seconds"], N / direct["seconds"]
calls, direct_calls = sum(ours["odoo_calls"].values()), sum(direct["odoo_calls"].values())
failed = "".join(f"\n              {v['attempts']:,} attempts of {len(v['deliveries']):,} deliveries (attempt number up to {v['most']}): {k.split(':')[0]}, "
                 f"e.g. \"{v['e.g.']}\"" for k, v in ours["failed_attempts"].items()) or " none"
say(f"  chargebee   {N:,} paid invoices in EUR ({CUSTOMERS:,} customers, 21 % tax) from the fake Chargebee's events feed into the fake Odoo "
    f"{args.version}, each posted and its payment registered; backfill {json.dumps([b for b in args.backfill.split(',') if b])}")
say("")
say(f"  {'':<52} {'invoices/s':>10} {'seconds':>8} {'Odoo calls':>11} {'per invoice':>11} {'fake Odoo CPU s':>16}")
say(f"  {'daemon, connector-chargebee, connector-odoo':<52} {rate:>10,.0f} {ours['seconds']:>8.1f} {calls:>11,} {calls / N:>11.1f} "
    f"{ours['cpu']['fake Odoo']:>16.1f}")
say(f"  {'plain Python client, one call at a time':<52} {direct_rate:>10,.0f} {direct['seconds']:>8.1f} {direct_calls:>11,} {direct_calls / N:>11.1f} "
    f"{direct['cpu']['fake Odoo']:>16.1f}")
say(f"  ours/direct {rate / direct_rate:.2f}")
say("")
say(f"  daemon run  {ours['deliveries']:,} deliveries; the feed read in {ours['read_seconds']:.1f} s ({ours['chargebee_requests']} Chargebee requests); "
    f"failed attempts:{failed}")
say("              Odoo calls: " + ", ".join(f"{k} {v:,}" for k, v in ours["odoo_calls"].most_common()))
say("              CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in ours["cpu"].items()))
say("              peak RSS: " + ", ".join(f"{k} {v:.1f} MiB" for k, v in ours["rss_mib"].items()))
say("  direct run  keeps no queue, no cursor, no retries, no dedupe: a crash or an Odoo error midway loses or doubles bookings")
say("              Odoo calls: " + ", ".join(f"{k} {v:,}" for k, v in direct["odoo_calls"].most_common()))
print(json.dumps({"chargebee_invoices_per_s": round(rate, 1), "direct_invoices_per_s": round(direct_rate, 1), "ours_over_direct": round(rate / direct_rate, 2),
                  "seconds": round(ours["seconds"], 2), "direct_seconds": round(direct["seconds"], 2), "odoo_calls_per_invoice": round(calls / N, 1),
                  "direct_odoo_calls_per_invoice": round(direct_calls / N, 1), "failed_attempts": sum(v["attempts"] for v in ours["failed_attempts"].values()),
                  "peak_rss_mib": {k: round(v, 1) for k, v in ours["rss_mib"].items()}}))

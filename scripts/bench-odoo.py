#!/usr/bin/env python3
"""Invoices per second into Odoo (the fake Odoo of Tests/Fakes/odoo, on loopback) through the daemon
and the connector-odoo plugin, beside the same Odoo calls made directly by a plain Python client —
the ceiling the fake itself allows on this machine.

Each invoice is a flow of three source events (customer, invoice, payment), as the sample source
emits them; into Odoo that is a partner, a posted invoice (after the total check) and a payment
registered with its fee written off (the Odoo calls per flow are counted and printed).

usage: scripts/bench-odoo.py --bin .build/release [--invoices N] [--version 17|19] [--concurrency C]
"""
import argparse, concurrent.futures, http.client, json, os, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--invoices", type=int, default=2000)
parser.add_argument("--version", type=int, default=19, choices=[17, 19])
parser.add_argument("--concurrency", type=int, default=4, help="the connector's max_concurrency (Odoo calls in flight)")
args = parser.parse_args()
BIN = os.path.abspath(args.bin)
KEY = "bench-odoo-key"


class FakeOdoo:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, f"{ROOT}/Tests/Fakes/odoo/fake_odoo.py", "--version", str(args.version), "--port", "0",
                                      "--db", "bench", "--api-key", KEY], stdout=subprocess.PIPE, stderr=open(os.environ.get("FAKE_ODOO_LOG", os.devnull), "a"), text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            raise SystemExit(f"the fake Odoo did not start: {line}")
        self.host, self.port = line.split()[1].rsplit(":", 1)
        self.url = f"http://{line.split()[1]}"

    def state(self, model):
        conn = http.client.HTTPConnection(self.host, int(self.port))
        conn.request("GET", f"/__fake__/state?model={model}")
        return json.loads(conn.getresponse().read())["models"][model]

    def calls(self):
        conn = http.client.HTTPConnection(self.host, int(self.port))
        conn.request("GET", "/__fake__/calls")
        return len(json.loads(conn.getresponse().read())["calls"])

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


cpu_seconds = benchdaemon.cpu_seconds


children = benchdaemon.children


def through_the_daemon(fake):
    n = args.invoices
    connectors = (
        f'[[connector]]\nid = "shop"\nplugin = "sample"\nentity = "acme-eu"\npoll_batch = 1000\npoll_interval_ms = 20\n'
        f'[connector.config]\nemit = {3 * n}\ntax_rate = 21\n\n'
        f'[[connector]]\nid = "erp"\nplugin = "odoo"\npoll_interval_ms = 60000\n[connector.config]\nurl = "{fake.url}"\n'
        f'database = "bench"\nlogin = "admin"\nmax_concurrency = {args.concurrency}\n'
        f'companies = {{ "acme-eu" = 2 }}\ntaxes = {{ "2" = {{ "21" = 101 }} }}\nfee_accounts = {{ "2" = 104 }}\n\n'
        f'[[route]]\nfrom = "shop"\nto = "erp"\nevents = ["*"]\nconcurrency = 32\n'
    )
    fake_cpu = fake.cpu_seconds()
    d = benchdaemon.Daemon(BIN, connectors, secrets=[("erp", "api_key", KEY)], prefix="chodoo-")
    d.wait("SELECT COUNT(*) FROM deliveries WHERE state IN ('delivered', 'dead')", 3 * n, timeout=1800)
    with d.db() as c:
        first, last = c.execute("SELECT MIN(started_at), MAX(finished_at) FROM attempts").fetchone()
        dead = c.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'dead'").fetchone()[0]
        retried = c.execute("SELECT COUNT(*) FROM attempts WHERE outcome NOT IN ('delivered', 'duplicate')").fetchone()[0]
    seconds = (last - first) / 1000
    cpu = {"daemon": cpu_seconds(d.proc.pid), "plugins": sum(cpu_seconds(p) for p in children(d.proc.pid)), "fake Odoo": fake.cpu_seconds() - fake_cpu}
    posted = [m for m in fake.state("account.move") if m["move_type"] == "out_invoice" and m["state"] == "posted" and m["payment_state"] == "paid"]
    calls = fake.calls()
    d.stop()
    if dead or len(posted) != n:
        raise SystemExit(f"the run went wrong: {dead} dead letters, {len(posted)} paid invoices of {n}")
    return seconds, retried, cpu, calls / n


def directly(fake):
    """The same calls, made by a plain client with as many calls in flight: what the fake can take."""
    n = args.invoices
    def call(conn, model, method, body):
        conn.request("POST", f"/json/2/{model}/{method}", body=json.dumps(body),
                     headers={"Content-Type": "application/json", "Authorization": f"bearer {KEY}", "X-Odoo-Database": "bench"})
        answer = conn.getresponse()
        data = json.loads(answer.read())
        if answer.status != 200:
            raise SystemExit(f"{model}.{method}: {data}")
        return data
    def flow(conn, i):
        ctx = {"allowed_company_ids": [2]}
        ref = f"direct:{i}"
        if not call(conn, "res.partner", "search_read", {"domain": [["ref", "=", ref]], "fields": ["id"], "context": ctx}):
            partner = call(conn, "res.partner", "create", {"vals_list": [{"name": f"Direct {i}", "ref": ref, "is_company": True}], "context": ctx})[0]
        call(conn, "account.move", "search_read", {"domain": [["ref", "=", ref]], "fields": ["id"], "context": ctx})
        move = call(conn, "account.move", "create", {"vals_list": [{"move_type": "out_invoice", "partner_id": partner, "currency_id": 125, "ref": ref,
                    "invoice_line_ids": [[0, 0, {"name": "Subscription", "quantity": 1, "price_unit": 100.0, "tax_ids": [[6, 0, [101]]]}]]}], "context": ctx})[0]
        call(conn, "account.move", "read", {"ids": [move], "fields": ["amount_total"], "context": ctx})
        call(conn, "account.move", "action_post", {"ids": [move], "context": ctx})
        call(conn, "account.payment", "search_read", {"domain": [["memo" if args.version >= 18 else "ref", "=", ref]], "fields": ["id"], "context": ctx})
        pay_ctx = dict(ctx, active_model="account.move", active_ids=[move])
        wizard = call(conn, "account.payment.register", "create", {"vals_list": [{"amount": 119.0, "payment_difference_handling": "reconcile",
                      "writeoff_account_id": 104, "communication": ref}], "context": pay_ctx})[0]
        call(conn, "account.payment.register", "action_create_payments", {"ids": [wizard], "context": pay_ctx})
    if args.version < 19:
        return None  # JSON-2 arrived in Odoo 19; the direct client speaks only it
    conns = [http.client.HTTPConnection(fake.host, int(fake.port)) for _ in range(args.concurrency)]
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(lambda k: [flow(conns[k], i) for i in range(k, n, args.concurrency)], range(args.concurrency)))
    return time.monotonic() - start


fake = FakeOdoo()
try:
    n = args.invoices
    seconds, retried, cpu, calls = through_the_daemon(fake)
    print(f"  odoo        {n:,} invoice flows (customer + invoice + payment: 3 deliveries, {calls:.1f} Odoo calls each) into the fake Odoo {args.version} "
          f"through the daemon and connector-odoo (max_concurrency {args.concurrency}): {n / seconds:,.0f} invoices/s "
          f"({3 * n / seconds:,.0f} deliveries/s, {seconds:.1f} s, {retried} retried attempts)")
    print("              CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    fake.stop()
    fake = FakeOdoo()  # an empty database again, as the daemon run had
    direct = directly(fake)
    if direct:
        print(f"  baseline    the same Odoo calls by a plain Python client, {args.concurrency} in flight: {n / direct:,.0f} invoices/s "
              f"({direct:.1f} s): ours/direct {(n / seconds) / (n / direct):.2f}")
    print(json.dumps({"odoo_invoices_per_s": round(n / seconds, 1), "direct_invoices_per_s": round(n / direct, 1) if direct else None}))
finally:
    fake.stop()

#!/usr/bin/env python3
"""Contacts per second read from HubSpot (the fake HubSpot of Tests/Fakes/hubspot, on loopback) by the
daemon and connector-hubspot into the store, beside a plain Python client reading the same records the
same way from the same fake in the same run: a search per page of 200 from the last modified time
(HubSpot's search answers 5 requests a second: both clients keep to it) and the contacts' companies
through the v4 associations batch read, each page's JSON parsed.

Then won deals per second into sale orders: N companies and N deals in a won stage read from the fake
HubSpot and written by connector-odoo into the fake Odoo 19 (a company partner and a confirmed sale
order each).

usage: scripts/bench-hubspot.py --bin .build/release [--contacts N] [--deals N] [--search-rate N]
  --search-rate: the fake's search requests per second per account (HubSpot's: 5, the default). Higher,
  the figures show each client's own cost instead of HubSpot's limit (both clients then space searches
  only as the fake asks: connector-hubspot still spaces them to HubSpot's limit, so it stays near 5/s).
"""
import argparse, http.client, json, os, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchdaemon  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "pat-na1-00000000-0000-4000-8000-000000000000"
parser = argparse.ArgumentParser()
parser.add_argument("--bin", required=True)
parser.add_argument("--contacts", type=int, default=20000)
parser.add_argument("--deals", type=int, default=1000)
parser.add_argument("--search-rate", type=int, default=5)
args = parser.parse_args()
BIN = os.path.abspath(args.bin)


class FakeHubSpot:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, f"{ROOT}/Tests/Fakes/hubspot/fake_hubspot.py", "--port", "0", "--rate-limit", "100000",
                                      "--search-rate-limit", str(args.search_rate)],
                                     stdout=subprocess.PIPE, stderr=open(os.environ.get("FAKE_HUBSPOT_LOG", os.devnull), "a"), text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            raise SystemExit(f"the fake HubSpot did not start: {line}")
        self.host, self.port = line.split()[1].rsplit(":", 1)
        self.url = f"http://{line.split()[1]}"
        start = int(time.time() * 1000) - 3_600_000
        self.control("seed", {"companies": max(1, args.contacts // 10), "contacts": args.contacts, "associate": True, "step_ms": 1, "start": start})

    def control(self, name, body):
        conn = http.client.HTTPConnection(self.host, int(self.port))
        conn.request("POST", f"/__fake__/{name}", body=json.dumps(body), headers={"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())

    def stop(self):
        self.proc.kill()
        self.proc.wait()


cpu_seconds = benchdaemon.cpu_seconds


def through_the_daemon(fake):
    connectors = (f'[[connector]]\nid = "crm"\nplugin = "hubspot"\npoll_batch = 1000\npoll_interval_ms = 20\n[connector.config]\n'
                  f'api_base = "{fake.url}"\ncurrency = "EUR"\nstreams = ["contacts"]\npage_size = 200\nsearch_lag_ms = 0\n')
    d = benchdaemon.Daemon(BIN, connectors, secrets=[("crm", "access_token", TOKEN)], prefix="chhubspot-")
    d.wait("SELECT COUNT(*) FROM events WHERE connector = 'crm'", args.contacts, timeout=1800)
    with d.db() as c:
        first, last = c.execute("SELECT MIN(received_at), MAX(received_at) FROM events WHERE connector = 'crm'").fetchone()
        stored = c.execute("SELECT COUNT(*) FROM events WHERE connector = 'crm'").fetchone()[0]
    plugin = [p for p in os.listdir("/proc") if p.isdigit() and "connector-hubspot" in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")]
    cpu = {"daemon": cpu_seconds(d.proc.pid), "plugin": sum(cpu_seconds(int(p)) for p in plugin)}
    d.stop()
    if stored != args.contacts:
        raise SystemExit(f"the run went wrong: {stored} contacts stored of {args.contacts}")
    return (last - first) / 1000, cpu


def directly(fake):
    """The same reads by a plain client: a search from the last modified time, 200 a page, the ids of
    that millisecond remembered; the companies of each page in one associations batch read."""
    conn = http.client.HTTPConnection(fake.host, int(fake.port))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    def post(path, body):
        while True:
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            answer = conn.getresponse()
            data = json.loads(answer.read())
            if answer.status == 429:
                time.sleep(float(answer.getheader("Retry-After") or 1))
                continue
            if answer.status not in (200, 207):
                raise SystemExit(f"{path}: {answer.status} {data}")
            return data
    stamp, seen, read = "0", set(), 0
    spacing = 1.0 / args.search_rate * 1.1
    next_search = time.monotonic()
    start = time.monotonic()
    while read < args.contacts:
        time.sleep(max(0.0, next_search - time.monotonic()))
        next_search = time.monotonic() + spacing
        page = post("/crm/v3/objects/contacts/search", {
            "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": stamp}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["firstname", "lastname", "email", "phone", "jobtitle", "lastmodifieddate"], "limit": min(200, 200 + len(seen))})
        new = [r for r in page["results"] if r["id"] not in seen]
        if not new:
            break
        for at in range(0, len(new), 100):  # HubSpot takes 100 inputs a call
            post("/crm/v4/associations/contacts/companies/batch/read", {"inputs": [{"id": r["id"]} for r in new[at:at + 100]]})
        read += len(new)
        last = page["results"][-1]["properties"]["lastmodifieddate"]
        ms = str(int(time.mktime(time.strptime(last[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone) * 1000 + int(last[20:23]))
        seen = {r["id"] for r in page["results"] if r["properties"]["lastmodifieddate"] == last} | (seen if ms == stamp else set())
        stamp = ms
    return time.monotonic() - start, read


def deals_into_odoo():
    """Won deals → confirmed sale orders in the fake Odoo 19, through the daemon."""
    n = args.deals
    key = "bench-odoo-key"
    hubspot, hubspot_url = benchdaemon.start_loopback([sys.executable, f"{ROOT}/Tests/Fakes/hubspot/fake_hubspot.py", "--port", "0", "--rate-limit", "100000"])
    odoo, odoo_url = benchdaemon.start_loopback([sys.executable, f"{ROOT}/Tests/Fakes/odoo/fake_odoo.py", "--version", "19", "--port", "0", "--db", "bench",
                                                 "--api-key", key])
    try:
        start = int(time.time() * 1000) - 3_600_000
        request = urllib.request.Request(f"{hubspot_url}/__fake__/seed", data=json.dumps({"companies": n, "deals": n, "associate": True, "step_ms": 1,
                                         "start": start}).encode(), headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request).read()
        request = urllib.request.Request(f"{odoo_url}/json/2/product.product/create", data=json.dumps({"vals_list": [{"name": "Services", "sale_ok": True}]}).encode(),
                                         headers={"Content-Type": "application/json", "Authorization": f"bearer {key}", "X-Odoo-Database": "bench"}, method="POST")
        product = json.loads(urllib.request.urlopen(request).read())[0]
        stages = '["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon"]'
        connectors = (f'[[connector]]\nid = "crm"\nplugin = "hubspot"\nentity = "acme-eu"\npoll_batch = 1000\npoll_interval_ms = 20\n[connector.config]\n'
                      f'api_base = "{hubspot_url}"\ncurrency = "EUR"\nstreams = ["companies", "deals"]\npage_size = 200\nsearch_lag_ms = 0\nwon_stages = {stages}\n\n'
                      f'[[connector]]\nid = "erp"\nplugin = "odoo"\npoll_interval_ms = 60000\n[connector.config]\nurl = "{odoo_url}"\ndatabase = "bench"\n'
                      f'login = "admin"\ncompanies = {{ "acme-eu" = 2 }}\norders = "confirm"\ndefault_order_product = {product}\n\n'
                      f'[[route]]\nfrom = "crm"\nto = "erp"\nevents = ["company.*", "order.*"]\nconcurrency = 32\n')
        d = benchdaemon.Daemon(BIN, connectors, secrets=[("crm", "access_token", TOKEN), ("erp", "api_key", key)], prefix="chdeals-")
        d.wait("SELECT COUNT(*) FROM deliveries WHERE state IN ('delivered', 'dead')", 2 * n, timeout=1800)
        with d.db() as c:
            first, last = c.execute("SELECT MIN(a.started_at), MAX(a.finished_at) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                                    "JOIN events e ON e.id = d.event_id WHERE e.type = 'order.won'").fetchone()
            dead = c.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'dead'").fetchone()[0]
        d.stop()
        state = json.loads(urllib.request.urlopen(f"{odoo_url}/__fake__/state?model=sale.order").read())["models"]["sale.order"]
        confirmed = [o for o in state if o["state"] == "sale"]
        if dead or len(confirmed) != n:
            raise SystemExit(f"the deals run went wrong: {dead} dead letters, {len(confirmed)} confirmed sale orders of {n}")
        return (last - first) / 1000
    finally:
        for proc in (hubspot, odoo):
            proc.kill()
            proc.wait()


fake = FakeHubSpot()
try:
    n = args.contacts
    fake_cpu = cpu_seconds(fake.proc.pid)
    seconds, cpu = through_the_daemon(fake)
    cpu["fake HubSpot"] = cpu_seconds(fake.proc.pid) - fake_cpu
    print(f"  hubspot     {n:,} contacts (with their companies) read from the fake HubSpot (search at {args.search_rate}/s) by the daemon and "
          f"connector-hubspot into the store: {n / seconds:,.0f} contacts/s ({seconds:.1f} s)")
    print("              CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    direct, read = directly(fake)
    print(f"  baseline    the same reads by a plain Python client of the same fake: {read / direct:,.0f} contacts/s ({direct:.1f} s): "
          f"ours/direct {(n / seconds) / (read / direct):.2f}")
    fake.stop()
    orders = deals_into_odoo() if args.deals > 0 else None
    if orders:
        print(f"  deals       {args.deals:,} won deals (and their companies) from the fake HubSpot into confirmed sale orders in the fake Odoo 19 "
              f"through the daemon, connector-hubspot and connector-odoo: {args.deals / orders:,.0f} sale orders/s ({orders:.1f} s)")
    print(json.dumps({"hubspot_contacts_per_s": round(n / seconds, 1), "direct_contacts_per_s": round(read / direct, 1),
                      "sale_orders_per_s": round(args.deals / orders, 1) if orders else None}))
finally:
    fake.stop()

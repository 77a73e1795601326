"""Checks of fake_salesforce.py: raw HTTP (standard library only) and the simple-salesforce client.

Run from the repository root: python3 -m unittest Tests/Fakes/salesforce/test_fake_salesforce.py   (a few seconds)

RawHttpTests need nothing but python3 (the JWT keys are made here with pure-Python RSA, sf_testkit.py).
OfficialClientInVenv runs official_client_checks.py with the python of .build/venv-salesforce, where
simple-salesforce is installed from requirements-salesforce.txt (scripts/lib/common.sh ensure_salesforce_client).
Without the virtualenv that check is skipped, saying why, or fails when CONNECTOR_HOST_REQUIRE_SALESFORCE_CLIENT=1
(scripts/test sets it).
"""

import csv
import io
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # ../common/selftest.py, for this import only
try:
    from common import selftest  # noqa: E402
finally:
    del sys.path[0]
sys.path.insert(0, str(HERE))
try:
    import sf_testkit  # noqa: E402
finally:
    del sys.path[0]

ROOT = HERE.parents[2]
FAKE = HERE / "fake_salesforce.py"
VENV_PYTHON = ROOT / ".build" / "venv-salesforce" / "bin" / "python"
REQUIRE_CLIENT = os.environ.get("CONNECTOR_HOST_REQUIRE_SALESFORCE_CLIENT") == "1"
KEY = sf_testkit.RsaKey(seed=1)
OTHER_KEY = sf_testkit.RsaKey(seed=2)
T0 = 1767225600  # 2026-01-01T00:00:00Z


class FakeCase(unittest.TestCase):
    extra_args = []

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cert = Path(cls.tmp.name) / "cert.pem"
        cert.write_text(KEY.certificate_pem())
        cls.process, cls.base = selftest.start([sys.executable, str(FAKE), "--port", "0", "--certificate", str(cert)]
                                               + cls.extra_args, ROOT, "fake_salesforce.py")
        cls.c = sf_testkit.Client(cls.base)

    @classmethod
    def tearDownClass(cls):
        selftest.stop(cls.process)
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(200, self.c.control("POST", "reset")[0])
        self.c.login_refresh()

    def assertError(self, answer, status, code, contains=None):
        got, body, _ = answer
        self.assertEqual(status, got, body)
        self.assertIsInstance(body, list, body)
        self.assertEqual(code, body[0]["errorCode"], body)
        self.assertIn("message", body[0])
        if contains:
            self.assertIn(contains, body[0]["message"])
        return body[0]

    def seed(self, obj, records, **extra):
        status, body = self.c.control("POST", "seed", {"object": obj, "records": records, **extra})
        self.assertEqual(200, status, body)
        return body["ids"]

    def create(self, obj, values):
        status, body, _ = self.c.api("POST", f"/sobjects/{obj}", values)
        self.assertEqual(201, status, body)
        return body["id"]

    def claims(self, **over):
        claims = {"iss": "fake_consumer_key", "sub": "integration@example.com", "aud": "https://login.salesforce.com",
                  "exp": int(time.time()) + 120}
        claims.update(over)
        return claims

    def jwt_grant(self, assertion):
        return self.c.token({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})


class RawHttpTests(FakeCase):
    # -- OAuth ------------------------------------------------------------------------------------

    def test_jwt_bearer_accepted_and_refused(self):
        status, body = self.jwt_grant(KEY.jwt(self.claims()))
        self.assertEqual(200, status, body)
        self.assertEqual({"access_token", "scope", "instance_url", "id", "token_type"}, set(body))
        self.assertEqual(self.base, body["instance_url"])
        self.assertRegex(body["access_token"], r"^00D[A-Za-z0-9]{12}!AQ[A-Za-z0-9._]+$")
        self.assertEqual(200, self.c.api("GET", "/limits/", token=body["access_token"])[0])
        self.assertEqual(("invalid_grant", "invalid assertion"),
                         tuple(self.jwt_grant(OTHER_KEY.jwt(self.claims()))[1].values()))
        self.assertEqual("invalid_client", self.jwt_grant(KEY.jwt(self.claims(iss="other")))[1]["error"])
        self.assertEqual("audience is invalid",
                         self.jwt_grant(KEY.jwt(self.claims(aud="https://evil.example")))[1]["error_description"])
        self.assertEqual(200, self.jwt_grant(KEY.jwt(self.claims(aud="https://test.salesforce.com")))[0])
        for exp in (int(time.time()) - 5, int(time.time()) + 3600, "soon"):
            status, body = self.jwt_grant(KEY.jwt(self.claims(exp=exp)))
            self.assertEqual((400, "invalid_grant"), (status, body["error"]), exp)
        self.assertEqual(200, self.jwt_grant(KEY.jwt(self.claims(exp=str(int(time.time()) + 180))))[0])
        self.assertEqual("invalid_grant", self.jwt_grant(KEY.jwt(self.claims(sub="nobody@example.com")))[1]["error"])
        self.assertEqual("invalid_grant", self.jwt_grant(KEY.jwt(self.claims(), {"alg": "HS256"}))[1]["error"])
        self.assertEqual("invalid_grant", self.jwt_grant("not.a.jwt")[1]["error"])
        # the fake clock decides "expired"
        self.c.control("POST", "clock", {"advance": 600})
        self.assertEqual(400, self.jwt_grant(KEY.jwt(self.claims()))[0])
        self.c.control("POST", "clock", {"real": True})
        # a PUBLIC KEY PEM set by control works too
        self.assertEqual(200, self.c.control("POST", "org", {"certificate": OTHER_KEY.public_key_pem()})[0])
        self.assertEqual(200, self.jwt_grant(OTHER_KEY.jwt(self.claims()))[0])
        self.assertEqual(400, self.jwt_grant(KEY.jwt(self.claims()))[0])
        self.assertEqual({"jwt": 4, "refresh_token": 1}, self.c.control("GET", "sessions")[1]["counts"])
        self.assertEqual(("unsupported_grant_type", "grant type not supported"),
                         tuple(self.c.token({"grant_type": "password"})[1].values()))

    def test_refresh_grant_and_rotation(self):
        status, body = self.c.token({"grant_type": "refresh_token", "refresh_token": "fake_refresh_token"},
                                    {"Authorization": "Basic ZmFrZV9jb25zdW1lcl9rZXk6ZmFrZV9jbGllbnRfc2VjcmV0"})
        self.assertEqual(200, status, body)
        self.assertIn("signature", body)
        self.assertRegex(body["issued_at"], r"^\d{13}$")
        self.assertNotIn("refresh_token", body)
        self.assertNotIn("expires_in", body)
        bad = self.c.token({"grant_type": "refresh_token", "client_id": "fake_consumer_key", "client_secret": "x",
                            "refresh_token": "fake_refresh_token"})
        self.assertEqual((400, "invalid_client"), (bad[0], bad[1]["error"]))
        self.c.control("POST", "org", {"rotate_refresh_tokens": True})
        first = self.c.login_refresh()
        second = self.c.login_refresh(first["refresh_token"])
        self.assertNotEqual(first["refresh_token"], second["refresh_token"])
        status, body = self.c.token({"grant_type": "refresh_token", "client_id": "fake_consumer_key",
                                     "client_secret": "fake_client_secret", "refresh_token": first["refresh_token"]})
        self.assertEqual((400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}),
                         (status, body))
        # reusing a rotated token revoked everything, the newest refresh token and the sessions too
        status, _ = self.c.token({"grant_type": "refresh_token", "client_id": "fake_consumer_key",
                                  "client_secret": "fake_client_secret", "refresh_token": second["refresh_token"]})
        self.assertEqual(400, status)
        self.assertEqual(401, self.c.api("GET", "/limits/")[0])

    def test_sessions_expire_and_ttl(self):
        self.assertEqual(200, self.c.api("GET", "/limits/")[0])
        self.c.control("POST", "sessions", {"expire": True})
        status, body, _ = self.c.api("GET", "/limits/")
        self.assertEqual((401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
                         (status, body))
        self.assertEqual(401, self.c.api("GET", "/limits/", token="00Dxx!AQnope")[0])
        self.c.control("POST", "sessions", {"ttl_s": 60})
        self.c.control("POST", "clock", {"now": T0})
        self.c.login_refresh()
        self.assertEqual(200, self.c.api("GET", "/limits/")[0])
        self.c.control("POST", "clock", {"advance": 61})
        self.assertEqual(401, self.c.api("GET", "/limits/")[0])
        self.assertEqual({"jwt": 0, "refresh_token": 2}, self.c.control("GET", "sessions")[1]["counts"])

    # -- errors, limits, versions -------------------------------------------------------------------

    def test_limits_header_and_request_limit(self):
        status, _, headers = self.c.api("GET", "/limits/")
        self.assertEqual("api-usage=1/15000", headers["Sforce-Limit-Info"])
        self.c.control("POST", "limits", {"used": 98, "max": 100})
        status, body, headers = self.c.api("GET", "/limits/")
        self.assertEqual({"Max": 100, "Remaining": 1}, body["DailyApiRequests"])
        self.assertIn("DailyBulkV2QueryJobs", body)
        self.assertEqual("api-usage=99/100", headers["Sforce-Limit-Info"])
        self.c.api("POST", "/composite/sobjects", {"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(3)]})
        self.assertEqual(100, self.c.control("GET", "limits")[1]["used"])  # a collection call counts one
        self.assertError(self.c.api("GET", "/limits/"), 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.assertEqual(100, self.c.control("GET", "limits")[1]["used"])

    def test_versions_and_sf_error_fault(self):
        self.assertError(self.c.api("GET", "/limits/", version="45.0"), 404, "NOT_FOUND")
        self.assertError(self.c.api("GET", "/limits/", version="63.0"), 404, "NOT_FOUND")
        self.assertEqual(200, self.c.api("GET", "/limits/", version="46.0")[0])
        self.assertEqual(200, self.c.api("GET", "/limits/", version="62.0")[0])
        status, body = self.c.control("POST", "fault", {"kind": "sf_error", "method": "GET",
                                                        "path": "/services/data/v59.0/query", "status": 400,
                                                        "errorCode": "UNABLE_TO_LOCK_ROW",
                                                        "message": "unable to obtain exclusive access to this record"})
        self.assertEqual(200, status, body)
        self.assertError(self.c.query("SELECT Id FROM Account"), 400, "UNABLE_TO_LOCK_ROW", "exclusive access")
        self.assertEqual(200, self.c.query("SELECT Id FROM Account")[0])
        self.assertEqual(400, self.c.control("POST", "fault", {"kind": "sf_error"})[0])

    # -- schema and writes --------------------------------------------------------------------------

    def test_ids_and_record_shape(self):
        rid = self.create("Account", {"Name": "Acme", "BillingCity": "Paris"})
        self.assertRegex(rid, r"^001[A-Za-z0-9]{15}$")
        self.assertEqual(sf_testkit.expected_suffix(rid[:15]), rid[15:])
        status, body, _ = self.c.api("GET", f"/sobjects/Account/{rid}")
        self.assertEqual(200, status)
        self.assertEqual({"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{rid}"}, body["attributes"])
        self.assertRegex(body["CreatedDate"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
        self.assertFalse(body["IsDeleted"])
        self.assertEqual(body["SystemModstamp"], body["LastModifiedDate"])
        # the 15-character form works in paths
        self.assertEqual(200, self.c.api("GET", f"/sobjects/Account/{rid[:15]}?fields=Name")[0])
        self.assertEqual({"attributes", "Id", "Name"}, set(self.c.api("GET", f"/sobjects/Account/{rid}?fields=Name")[1]))
        self.assertError(self.c.api("GET", "/sobjects/Account/001Dn0000000zzzAAA"), 404, "NOT_FOUND")
        self.assertError(self.c.api("GET", "/sobjects/Nope/describe"), 404, "NOT_FOUND")
        for prefix, obj in (("003", "Contact"), ("006", "Opportunity"), ("01t", "Product2"), ("01s", "Pricebook2")):
            self.assertEqual(prefix, self.c.api("GET", f"/sobjects/{obj}/describe")[1]["keyPrefix"])

    def test_strict_schema(self):
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "A", "Foo": 1}), 400, "INVALID_FIELD",
                         "No such column 'Foo' on sobject of type Account")
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Phone": "1"}), 400, "REQUIRED_FIELD_MISSING",
                         "Required fields are missing: [Name]")
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "A", "CreatedDate": "2024-01-01T00:00:00Z"}),
                         400, "INVALID_FIELD_FOR_INSERT_UPDATE")
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": 5}), 400, "JSON_PARSER_ERROR")
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "A", "CurrencyIsoCode": "USD"}), 400,
                         "INVALID_FIELD")
        self.assertError(self.c.api("POST", "/sobjects/Contact", {"LastName": "L", "AccountId": "001Dn0000000zzzAAA"}),
                         400, "INVALID_CROSS_REFERENCE_KEY")
        self.assertError(self.c.api("POST", "/sobjects/Contact", {"LastName": "L", "AccountId": "nope"}), 400,
                         "MALFORMED_ID")
        # custom fields by control
        status, body = self.c.control("POST", "fields", {"object": "Account", "fields": {
            "Balance_Due__c": "currency", "Overdue_Invoices__c": "double", "Last_Payment_At__c": "datetime",
            "Ext_Key__c": {"type": "string", "external_id": True, "unique": True}}})
        self.assertEqual(200, status, body)
        self.assertEqual(400, self.c.control("POST", "fields", {"object": "Account", "fields": {"Balance": "currency"}})[0])
        self.assertEqual(400, self.c.control("POST", "fields", {"object": "Account", "fields": {"X__c": "blob"}})[0])
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "A", "Balance_Due__c": "12.5"}), 400,
                         "JSON_PARSER_ERROR")
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "A", "Last_Payment_At__c": "yesterday"}),
                         400, "JSON_PARSER_ERROR")
        rid = self.create("Account", {"Name": "A", "Balance_Due__c": 12.345, "Last_Payment_At__c":
                                      "2024-01-02T17:38:59.123+01:00", "Ext_Key__c": "k1"})
        record = self.c.api("GET", f"/sobjects/Account/{rid}")[1]
        self.assertEqual(12.35, record["Balance_Due__c"])
        self.assertEqual("2024-01-02T16:38:59.000+0000", record["Last_Payment_At__c"])
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "B", "Ext_Key__c": "K1"}), 400,
                         "DUPLICATE_VALUE", rid)
        fields = {f["name"]: f for f in self.c.api("GET", "/sobjects/Account/describe")[1]["fields"]}
        self.assertTrue(fields["Ext_Key__c"]["externalId"] and fields["Ext_Key__c"]["custom"])
        self.assertFalse(fields["SystemModstamp"]["updateable"])
        self.assertFalse(fields["Name"]["nillable"])

    def test_upsert_by_external_id(self):
        self.c.control("POST", "fields", {"object": "Account", "fields": {
            "Ext_Key__c": {"type": "string", "external_id": True, "unique": True},
            "Legacy_Key__c": {"type": "string", "external_id": True}, "Plain__c": "string"}})
        status, body, headers = self.c.api("PATCH", "/sobjects/Account/Ext_Key__c/k-1", {"Name": "Acme"})
        self.assertEqual((201, True), (status, body["created"]), body)
        rid = body["id"]
        status, body, _ = self.c.api("PATCH", "/sobjects/Account/Ext_Key__c/k-1", {"Name": "Acme 2"})
        self.assertEqual((200, {"id": rid, "success": True, "errors": [], "created": False}), (status, body))
        self.assertEqual("Acme 2", self.c.api("GET", "/sobjects/Account/Ext_Key__c/k-1")[1]["Name"])
        self.assertError(self.c.api("PATCH", "/sobjects/Account/Plain__c/x", {"Name": "A"}), 404, "NOT_FOUND")
        self.seed("Account", [{"Name": "L1", "Legacy_Key__c": "dup"}, {"Name": "L2", "Legacy_Key__c": "dup"}])
        status, body, _ = self.c.api("PATCH", "/sobjects/Account/Legacy_Key__c/dup", {"Name": "A"})
        self.assertEqual(300, status)
        self.assertEqual(2, len(body))
        self.assertTrue(all(u.startswith("/services/data/v59.0/sobjects/Account/001") for u in body))
        status, body, _ = self.c.api("PATCH", f"/sobjects/Account/Id/{rid}", {"Name": "By Id"})
        self.assertEqual((200, False), (status, body["created"]))
        self.assertError(self.c.api("PATCH", "/sobjects/Account/Id/001Dn0000000zzzAAA", {"Name": "x"}), 404, "NOT_FOUND")

    def test_soft_delete_cascade_query_and_replication(self):
        self.c.control("POST", "clock", {"now": T0})
        acc = self.create("Account", {"Name": "Acme"})
        con = self.create("Contact", {"LastName": "Doe", "AccountId": acc, "Email": "d@example.com"})
        other = self.create("Account", {"Name": "Other"})
        self.c.control("POST", "clock", {"advance": 120})
        self.assertEqual(204, self.c.api("DELETE", f"/sobjects/Account/{acc}")[0])
        self.assertError(self.c.api("GET", f"/sobjects/Account/{acc}"), 404, "ENTITY_IS_DELETED")
        self.assertError(self.c.api("DELETE", f"/sobjects/Account/{acc}"), 404, "ENTITY_IS_DELETED")
        self.assertEqual([other], [r["Id"] for r in self.c.query("SELECT Id FROM Account")[1]["records"]])
        rows = self.c.query("SELECT Id, IsDeleted, SystemModstamp FROM Account ORDER BY Id", "queryAll")[1]["records"]
        self.assertEqual([(acc, True, "2026-01-01T00:02:00.000+0000"), (other, False, "2026-01-01T00:00:00.000+0000")],
                         [(r["Id"], r["IsDeleted"], r["SystemModstamp"]) for r in rows])
        self.assertTrue(self.c.query(f"SELECT IsDeleted FROM Contact WHERE Id = '{con}'", "queryAll")[1]["records"][0]
                        ["IsDeleted"])
        window = "?start=2025-12-31T23:00:00%2B00:00&end=2026-01-01T01:00:00%2B00:00"
        status, body, _ = self.c.api("GET", "/sobjects/Account/deleted/" + window)
        self.assertEqual(200, status, body)
        self.assertEqual([{"id": acc, "deletedDate": "2026-01-01T00:02:00.000+0000"}], body["deletedRecords"])
        self.assertEqual("2026-01-01T01:00:00.000+0000", body["latestDateCovered"])
        self.assertIn("earliestDateAvailable", body)
        self.assertEqual({"ids": [other], "latestDateCovered": "2026-01-01T01:00:00.000+0000"},
                         self.c.api("GET", "/sobjects/Account/updated/" + window)[1])
        records = self.c.control("GET", "records/Contact")[1]["records"]
        self.assertTrue(records[0]["IsDeleted"])

    # -- SOQL -----------------------------------------------------------------------------------------

    def test_soql_literals_and_strictness(self):
        self.seed("Account", [{"Name": "O'Brien \\ Sons", "Industry": "Tech", "Description": "line1\nline2"},
                              {"Name": "acme", "Industry": None}, {"Name": "Zeta", "Industry": "Retail"}])
        q = lambda s: self.c.query(s)  # noqa: E731
        self.assertEqual(1, q("SELECT Id FROM Account WHERE Name = 'O\\'Brien \\\\ Sons'")[1]["totalSize"])
        self.assertEqual(1, q("SELECT Id FROM Account WHERE Description = 'line1\\nline2'")[1]["totalSize"])
        self.assertEqual(1, q("select id from ACCOUNT where NAME = 'ACME'")[1]["totalSize"])  # case-insensitive
        self.assertEqual(["Id", "Name"], list(q("select id, name from account")[1]["records"][0])[1:])
        self.assertError(q("SELECT Id FROM Account WHERE Name = 'a\\qb'"), 400, "MALFORMED_QUERY", "\\q")
        self.assertError(q("SELECT Id FROM Account WHERE Name = 'open"), 400, "MALFORMED_QUERY")
        self.assertError(q("SELECT Id FROM Account WHERE Name = \"x\""), 400, "MALFORMED_QUERY")
        err = self.assertError(q("SELECT Id, Nme FROM Account"), 400, "INVALID_FIELD", "No such column 'Nme' on entity 'Account'")
        self.assertIn("ERROR at Row:1:Column:12", err["message"])
        self.assertError(q("SELECT Id FROM Acount"), 400, "INVALID_TYPE", "sObject type 'Acount' is not supported.")
        err = self.assertError(q("SELECT Id FROM Account WHERE SystemModstamp >= '2024-01-01T00:00:00Z'"), 400,
                               "INVALID_FIELD", "value of filter criterion for field 'SystemModstamp' must be of type "
                               "dateTime and should not be enclosed in quotes")
        self.assertIn("ERROR at Row:1:Column:48", err["message"])
        self.assertError(q("SELECT Id FROM Account WHERE SystemModstamp >= 2024-01-01"), 400, "INVALID_FIELD", "dateTime")
        self.assertError(q("SELECT Id FROM Opportunity WHERE CloseDate = 2024-01-01T00:00:00Z"), 400, "INVALID_FIELD",
                         "must be of type date")
        self.assertError(q("SELECT Id FROM Opportunity WHERE Amount > '5'"), 400, "INVALID_FIELD")
        self.assertError(q("SELECT Id FROM Account WHERE IsDeleted = 'false'"), 400, "INVALID_FIELD")
        self.assertError(q("SELECT Id FROM Account WHERE Name = 5"), 400, "INVALID_FIELD", "enclosed in quotes")
        self.assertError(q("SELECT Id FROM Account WHERE Id = 'abc'"), 400, "INVALID_QUERY_FILTER_OPERATOR")
        self.assertError(q("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'"), 400, "MALFORMED_QUERY")
        self.assertError(q("SELECT Id FROM Account LIMIT"), 400, "MALFORMED_QUERY")
        self.assertError(q("SELECT FROM Account"), 400, "MALFORMED_QUERY")
        self.assertError(q("SELECT Id, Id FROM Account"), 400, "MALFORMED_QUERY", "duplicate field selected: Id")
        self.assertError(q("SELECT Id FROM Account WHERE SystemModstamp > 2024-01-01T00:00:00+0100"), 400, "MALFORMED_QUERY")
        self.assertEqual(3, q("SELECT Id FROM Account WHERE SystemModstamp > 2024-01-01T00:00:00.000+01:00")[1]["totalSize"])
        self.assertEqual(3, q("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:3")[1]["totalSize"])
        self.assertEqual(3, q("SELECT Id FROM Account WHERE CreatedDate = TODAY")[1]["totalSize"])
        self.assertEqual(2, q("SELECT Id FROM Account WHERE (Name = 'acme' OR Name = 'zeta') AND IsDeleted = false")
                         [1]["totalSize"])
        self.assertEqual(2, q("SELECT Id FROM Account WHERE Industry IN ('tech', 'Retail')")[1]["totalSize"])
        self.assertEqual(2, q("SELECT Id FROM Account WHERE Industry NOT IN ('Tech')")[1]["totalSize"])  # nulls kept
        self.assertEqual(1, q("SELECT Id FROM Account WHERE Industry != null AND Industry != 'Tech'")[1]["totalSize"])
        self.assertEqual(1, q("SELECT Id FROM Account WHERE Industry = null")[1]["totalSize"])
        self.assertEqual(3, q("SELECT Id FROM Account WHERE Name LIKE '%E%'")[1]["totalSize"])
        self.assertEqual(1, q("SELECT Id FROM Account WHERE Name LIKE 'ac_e'")[1]["totalSize"])
        self.assertEqual(2, q("SELECT Id FROM Account WHERE NOT Name LIKE 'z%'")[1]["totalSize"])
        names = lambda s: [r["Name"] for r in q(s)[1]["records"]]  # noqa: E731
        self.assertEqual(["acme", "O'Brien \\ Sons", "Zeta"], names("SELECT Name FROM Account ORDER BY Name"))
        self.assertEqual(["Zeta", "O'Brien \\ Sons"], names("SELECT Name FROM Account ORDER BY Name DESC LIMIT 2"))
        self.assertEqual(["acme", "O'Brien \\ Sons", "Zeta"],
                         names("SELECT Name FROM Account ORDER BY Industry DESC NULLS FIRST, Name"))
        self.assertEqual(["O'Brien \\ Sons", "Zeta", "acme"],
                         names("SELECT Name FROM Account ORDER BY Industry DESC NULLS LAST"))
        self.assertEqual(0, q("SELECT Id FROM Account LIMIT 0")[1]["totalSize"])

    def test_incremental_order_and_filters(self):
        ids = self.seed("Account", [{"Name": f"A{i:03d}"} for i in range(30)], stamp_at=T0, step_s=0)
        ids += self.seed("Account", [{"Name": f"B{i:03d}"} for i in range(30)], stamp_at=T0 + 10, step_s=1)
        soql = ("SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-01-01T00:00:00Z AND "
                "SystemModstamp < 2026-01-01T00:00:20Z ORDER BY SystemModstamp ASC, Id ASC")
        rows = self.c.query(soql)[1]["records"]
        self.assertEqual(40, len(rows))
        keys = [(r["SystemModstamp"], r["Id"]) for r in rows]
        self.assertEqual(sorted(keys), keys)
        self.assertEqual(ids[:40], [r["Id"] for r in rows])
        lookup = self.c.query(f"SELECT Id FROM Account WHERE Id IN ('{ids[3]}', '{ids[1][:15]}') ORDER BY Id DESC")[1]
        self.assertEqual([ids[3], ids[1]], [r["Id"] for r in lookup["records"]])
        pb = self.c.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")[1]["records"]
        self.assertEqual(self.c.control("GET", "org")[1]["standard_pricebook_id"], pb[0]["Id"])

    def test_query_paging_and_locators(self):
        self.seed("Account", [{"Name": f"N{i:04d}"} for i in range(450)])
        status, page, _ = self.c.query("SELECT Id, Name FROM Account ORDER BY Name",
                                       headers={"Sforce-Query-Options": "batchSize=200"})
        self.assertEqual((450, False, 200), (page["totalSize"], page["done"], len(page["records"])))
        self.assertRegex(page["nextRecordsUrl"], r"^/services/data/v59\.0/query/01g[A-Za-z0-9]{15}-200$")
        names = [r["Name"] for r in page["records"]]
        # a later page shows current values (snapshot of ids, not of values)
        first_id_page2 = None
        while not page["done"]:
            status, page, _ = self.c.request("GET", page["nextRecordsUrl"], headers={
                "Authorization": f"Bearer {self.c.token_value}"})
            self.assertEqual(200, status, page)
            first_id_page2 = first_id_page2 or page["records"][0]["Id"]
            names += [r["Name"] for r in page["records"]]
        self.assertEqual([f"N{i:04d}" for i in range(450)], names)
        self.assertNotIn("nextRecordsUrl", page)
        self.assertEqual(450, len(self.c.query("SELECT Id FROM Account")[1]["records"]))  # default batch 2000
        status, page, _ = self.c.query("SELECT Id, Name FROM Account ORDER BY Name",
                                       headers={"Sforce-Query-Options": "batchSize=200"})
        self.c.api("PATCH", f"/sobjects/Account/{first_id_page2}", {"Name": "changed"})
        status, page2, _ = self.c.request("GET", page["nextRecordsUrl"], headers={
            "Authorization": f"Bearer {self.c.token_value}"})
        self.assertEqual("changed", page2["records"][0]["Name"])
        self.c.control("POST", "clock", {"advance": 15 * 60 + 1})
        self.c.control("POST", "sessions", {"ttl_s": None})
        self.assertError(self.c.request("GET", page2["nextRecordsUrl"], headers={
            "Authorization": f"Bearer {self.c.token_value}"}), 400, "INVALID_QUERY_LOCATOR")

    # -- Bulk API 2.0 --------------------------------------------------------------------------------

    def bulk_job(self, soql, operation="query"):
        status, job, _ = self.c.api("POST", "/jobs/query", {"operation": operation, "query": soql,
                                                            "contentType": "CSV", "columnDelimiter": "COMMA",
                                                            "lineEnding": "LF"})
        self.assertEqual(200, status, job)
        return job

    def test_bulk_query_job_life_and_csv_pages(self):
        self.c.control("POST", "clock", {"now": T0})
        self.c.control("POST", "fields", {"object": "Account", "fields": {"Balance_Due__c": "currency"}})
        ids = self.seed("Account", [{"Name": f'N{i} "q", x', "Balance_Due__c": 1.5 if i % 2 else None}
                                    for i in range(5)])
        job = self.bulk_job("SELECT Id, Name, Balance_Due__c, IsDeleted, CreatedDate FROM Account ORDER BY Name")
        self.assertEqual("UploadComplete", job["state"])
        self.assertRegex(job["id"], r"^750[A-Za-z0-9]{15}$")
        for key in ("jobType", "object", "operation", "apiVersion", "createdDate", "systemModstamp", "concurrencyMode",
                    "contentType", "lineEnding", "columnDelimiter"):
            self.assertIn(key, job)
        self.assertEqual(("V2Query", "Account", 59.0), (job["jobType"], job["object"], job["apiVersion"]))
        self.assertError(self.c.api("GET", f"/jobs/query/{job['id']}/results"), 400, "INVALIDJOBSTATE")
        self.assertEqual("InProgress", self.c.api("GET", f"/jobs/query/{job['id']}")[1]["state"])
        self.c.api("PATCH", f"/sobjects/Account/{ids[0]}", {"Name": "N0 before completion"})
        info = self.c.api("GET", f"/jobs/query/{job['id']}")[1]
        self.assertEqual(("JobComplete", 5), (info["state"], info["numberRecordsProcessed"]))
        self.c.api("PATCH", f"/sobjects/Account/{ids[1]}", {"Name": "after completion"})
        rows, locator, pages = [], None, 0
        while True:
            url = f"/jobs/query/{job['id']}/results?maxRecords=2" + (f"&locator={locator}" if locator else "")
            status, text, headers = self.c.api("GET", url, raw=True)
            self.assertEqual(200, status, text)
            self.assertTrue(headers["Content-Type"].startswith("text/csv"))
            lines = text.split("\n")
            self.assertEqual('"Id","Name","Balance_Due__c","IsDeleted","CreatedDate"', lines[0])  # on every page
            self.assertEqual("", lines[-1])
            page = list(csv.reader(io.StringIO(text)))[1:]
            self.assertEqual(int(headers["Sforce-NumberOfRecords"]), len(page))
            rows += page
            pages += 1
            locator = headers["Sforce-Locator"]
            if locator == "null":
                break
        self.assertEqual(3, pages)
        self.assertEqual(5, len(rows))
        self.assertIn("N0 before completion", [r[1] for r in rows])
        self.assertNotIn("after completion", [r[1] for r in rows])
        self.assertIn('"N2 ""q"", x"', self.c.api("GET", f"/jobs/query/{job['id']}/results", raw=True)[1])
        row = next(r for r in rows if r[0] == ids[1])
        self.assertEqual(["1.5", "false", "2026-01-01T00:00:00.000Z"], row[2:])
        self.assertEqual("", next(r for r in rows if r[0] == ids[2])[2])
        self.assertEqual(204, self.c.api("DELETE", f"/jobs/query/{job['id']}")[0])
        self.assertError(self.c.api("GET", f"/jobs/query/{job['id']}"), 404, "NOT_FOUND")

    def test_bulk_failures_and_query_all(self):
        self.c.control("POST", "bulk", {"polls_to_complete": 1, "fail_next": "boom: query timed out"})
        job = self.bulk_job("SELECT Id FROM Account")
        info = self.c.api("GET", f"/jobs/query/{job['id']}")[1]
        self.assertEqual(("Failed", "boom: query timed out"), (info["state"], info["errorMessage"]))
        self.assertError(self.c.api("POST", "/jobs/query", {"operation": "query", "query": "SELECT Id FROM Nope"}),
                         400, "INVALID_TYPE")
        self.assertError(self.c.api("POST", "/jobs/query", {"operation": "upsert", "query": "SELECT Id FROM Account"}),
                         400, "INVALIDJOB")
        rid = self.create("Account", {"Name": "gone"})
        self.c.api("DELETE", f"/sobjects/Account/{rid}")
        for operation, expected in (("query", 0), ("queryAll", 1)):
            job = self.bulk_job("SELECT Id, IsDeleted FROM Account", operation)
            self.assertEqual("JobComplete", self.c.api("GET", f"/jobs/query/{job['id']}")[1]["state"])
            status, text, headers = self.c.api("GET", f"/jobs/query/{job['id']}/results", raw=True)
            self.assertEqual(str(expected), headers["Sforce-NumberOfRecords"])
        self.assertEqual(409, self.c.api("GET", f"/jobs/query/{job['id']}/results", version="60.0")[0])

    # -- Collections and Composite ---------------------------------------------------------------------

    def test_collections_upsert(self):
        self.c.control("POST", "fields", {"object": "Account", "fields": {
            "Ext_Key__c": {"type": "string", "external_id": True, "unique": True}}})
        existing = self.create("Account", {"Name": "Old", "Ext_Key__c": "e1"})
        rec = lambda key, **v: {"attributes": {"type": "Account"}, "Ext_Key__c": key, **v}  # noqa: E731
        status, body, _ = self.c.api("PATCH", "/composite/sobjects/Account/Ext_Key__c", {
            "allOrNone": False, "records": [rec("e1", Name="New"), rec("e2", Name="Two"), rec("e3", Foo="x")]})
        self.assertEqual(200, status, body)
        self.assertEqual({"id": existing, "success": True, "errors": [], "created": False}, body[0])
        self.assertTrue(body[1]["success"] and body[1]["created"])
        self.assertFalse(body[2]["success"])
        self.assertEqual("INVALID_FIELD", body[2]["errors"][0]["statusCode"])
        self.assertEqual({"statusCode", "message", "fields"}, set(body[2]["errors"][0]))
        # a rejection injected by control, then allOrNone rolls everything back
        self.c.control("POST", "reject", {"object": "Account", "match": {"Ext_Key__c": "e5"},
                                          "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "No way"})
        status, body, _ = self.c.api("PATCH", "/composite/sobjects/Account/Ext_Key__c", {
            "allOrNone": True, "records": [rec("e1", Name="Rolled"), rec("e4", Name="Four"), rec("e5", Name="Five")]})
        self.assertEqual(["ALL_OR_NONE_OPERATION_ROLLED_BACK"] * 2 + ["FIELD_CUSTOM_VALIDATION_EXCEPTION"],
                         [r["errors"][0]["statusCode"] for r in body])
        self.assertEqual("New", self.c.api("GET", f"/sobjects/Account/{existing}")[1]["Name"])
        self.assertEqual(0, self.c.query("SELECT Id FROM Account WHERE Ext_Key__c = 'e4'")[1]["totalSize"])
        # the rejection was used up; UNABLE_TO_LOCK_ROW on a single write the same way
        self.c.control("POST", "reject", {"object": "Account", "match": {"Id": existing},
                                          "statusCode": "UNABLE_TO_LOCK_ROW",
                                          "message": "unable to obtain exclusive access to this record"})
        self.assertError(self.c.api("PATCH", f"/sobjects/Account/{existing}", {"Name": "x"}), 400, "UNABLE_TO_LOCK_ROW")
        self.assertEqual(204, self.c.api("PATCH", f"/sobjects/Account/{existing}", {"Name": "x"})[0])
        status, body, _ = self.c.api("PATCH", "/composite/sobjects/Account/Ext_Key__c", {
            "allOrNone": False, "records": [rec("d"), rec("d")]})
        self.assertEqual(["DUPLICATE_EXTERNAL_ID"] * 2, [r["errors"][0]["statusCode"] for r in body])
        self.assertError(self.c.api("PATCH", "/composite/sobjects/Account/Ext_Key__c", {
            "allOrNone": False, "records": [rec(f"k{i}", Name="n") for i in range(201)]}), 400, "EXCEEDED_ID_LIMIT")
        status, body, _ = self.c.api("POST", "/composite/sobjects", {"records": [
            {"attributes": {"type": "Account"}, "Name": "C1"}, {"attributes": {"type": "Contact"}, "LastName": "L"},
            {"Name": "untyped"}]})
        self.assertEqual([True, True, False], [r["success"] for r in body])

    def test_composite_references(self):
        status, body, _ = self.c.api("POST", "/composite", {"allOrNone": True, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "refAccount",
             "body": {"Name": "Sample"}},
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "refContact",
             "body": {"LastName": "C", "AccountId": "@{refAccount.id}"}},
            {"method": "GET", "url": "/services/data/v59.0/sobjects/Account/@{refAccount.id}?fields=Name",
             "referenceId": "readBack"}]})
        self.assertEqual(200, status, body)
        results = body["compositeResponse"]
        self.assertEqual([201, 201, 200], [r["httpStatusCode"] for r in results])
        self.assertEqual("Sample", results[2]["body"]["Name"])
        self.assertTrue(results[0]["httpHeaders"]["Location"].endswith(results[0]["body"]["id"]))
        status, body, _ = self.c.api("POST", "/composite", {"allOrNone": True, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "a", "body": {"Name": "X"}},
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "b", "body": {}}]})
        self.assertEqual([("PROCESSING_HALTED", 400), ("REQUIRED_FIELD_MISSING", 400)],
                         [(r["body"][0]["errorCode"], r["httpStatusCode"]) for r in body["compositeResponse"]])
        self.assertEqual(0, self.c.query("SELECT Id FROM Account WHERE Name = 'X'")[1]["totalSize"])
        self.assertError(self.c.api("POST", "/composite", {"compositeRequest": [
            {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(26)]}),
            400, "LIMIT_EXCEEDED")

    # -- Opportunities, line items, pricebooks ----------------------------------------------------------

    def catalog(self):
        std = self.c.control("GET", "org")[1]["standard_pricebook_id"]
        product = self.create("Product2", {"Name": "Widget", "ProductCode": "W-1", "IsActive": True})
        custom_pb = self.create("Pricebook2", {"Name": "Partners", "IsActive": True})
        self.assertError(self.c.api("POST", "/sobjects/PricebookEntry", {
            "Pricebook2Id": custom_pb, "Product2Id": product, "UnitPrice": 9, "IsActive": True}), 400,
            "STANDARD_PRICE_NOT_DEFINED")
        std_pbe = self.create("PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 10,
                                                 "IsActive": True})
        self.assertError(self.c.api("POST", "/sobjects/PricebookEntry", {
            "Pricebook2Id": std, "Product2Id": product, "UnitPrice": 11, "IsActive": True}), 400, "DUPLICATE_VALUE")
        return std, product, std_pbe

    def test_line_items_rollup_and_stage_rules(self):
        self.c.control("POST", "clock", {"now": T0})
        std, product, pbe = self.catalog()
        self.assertError(self.c.api("POST", "/sobjects/Opportunity", {"Name": "O", "StageName": "Dreaming",
                                                                      "CloseDate": "2026-02-01"}),
                         400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
        self.assertError(self.c.api("POST", "/sobjects/Opportunity", {"Name": "O", "StageName": "Prospecting",
                                                                      "CloseDate": "2026-02-31"}), 400,
                         "JSON_PARSER_ERROR")
        opp = self.create("Opportunity", {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-02-01",
                                          "Amount": 5})
        record = self.c.api("GET", f"/sobjects/Opportunity/{opp}")[1]
        self.assertEqual((False, False), (record["IsWon"], record["IsClosed"]))
        self.assertError(self.c.api("PATCH", f"/sobjects/Opportunity/{opp}", {"IsWon": True}), 400,
                         "INVALID_FIELD_FOR_INSERT_UPDATE")
        self.c.control("POST", "clock", {"advance": 60})
        li = self.create("OpportunityLineItem", {"OpportunityId": opp, "PricebookEntryId": pbe, "Quantity": 3,
                                                 "UnitPrice": 10.005, "Discount": 10})
        item = self.c.api("GET", f"/sobjects/OpportunityLineItem/{li}")[1]
        self.assertEqual((product, "W-1", 10.0, 30.03, 27.03), (item["Product2Id"], item["ProductCode"],
                                                               item["ListPrice"], item["Subtotal"], item["TotalPrice"]))
        record = self.c.api("GET", f"/sobjects/Opportunity/{opp}")[1]
        self.assertEqual((27.03, std, "2026-01-01T00:01:00.000+0000", "2026-01-01T00:00:00.000+0000"),
                         (record["Amount"], record["Pricebook2Id"], record["SystemModstamp"], record["LastModifiedDate"]))
        self.assertError(self.c.api("PATCH", f"/sobjects/Opportunity/{opp}", {"Amount": 1}), 400,
                         "FIELD_INTEGRITY_EXCEPTION")
        self.assertError(self.c.api("POST", "/sobjects/OpportunityLineItem", {
            "OpportunityId": opp, "PricebookEntryId": pbe, "Quantity": 1}), 400, "FIELD_INTEGRITY_EXCEPTION")
        self.assertError(self.c.api("PATCH", f"/sobjects/OpportunityLineItem/{li}", {"ProductCode": "x"}), 400,
                         "INVALID_FIELD_FOR_INSERT_UPDATE")
        self.c.control("POST", "clock", {"advance": 60})
        self.create("OpportunityLineItem", {"OpportunityId": opp, "PricebookEntryId": pbe, "Quantity": 1,
                                            "TotalPrice": 7})
        self.assertEqual(34.03, self.c.api("GET", f"/sobjects/Opportunity/{opp}")[1]["Amount"])
        rows = self.c.query(f"SELECT Id, OpportunityId, TotalPrice FROM OpportunityLineItem WHERE OpportunityId IN "
                            f"('{opp}') ORDER BY Id")[1]["records"]
        self.assertEqual([27.03, 7.0], [r["TotalPrice"] for r in rows])
        self.c.control("POST", "clock", {"advance": 60})
        self.assertEqual(204, self.c.api("DELETE", f"/sobjects/OpportunityLineItem/{li}")[0])
        record = self.c.api("GET", f"/sobjects/Opportunity/{opp}")[1]
        self.assertEqual((7.0, "2026-01-01T00:03:00.000+0000"), (record["Amount"], record["SystemModstamp"]))
        self.c.api("PATCH", f"/sobjects/Opportunity/{opp}", {"StageName": "Closed Won"})
        record = self.c.api("GET", f"/sobjects/Opportunity/{opp}")[1]
        self.assertEqual((True, True, 100.0), (record["IsWon"], record["IsClosed"], record["Probability"]))
        self.c.api("DELETE", f"/sobjects/Opportunity/{opp}")
        self.assertEqual([True, True], [r["IsDeleted"] for r in self.c.query(
            f"SELECT IsDeleted FROM OpportunityLineItem WHERE OpportunityId = '{opp}' AND IsDeleted = true",
            "queryAll")[1]["records"]])
        pbes = self.c.query(f"SELECT Id, Product2Id, UnitPrice, Name, ProductCode FROM PricebookEntry WHERE Product2Id "
                            f"IN ('{product}') AND Pricebook2Id = '{std}'")[1]["records"]
        self.assertEqual([(pbe, 10.0, "Widget", "W-1")], [(r["Id"], r["UnitPrice"], r["Name"], r["ProductCode"])
                                                          for r in pbes])

    def test_contact_lookup_query(self):
        acc = self.create("Account", {"Name": "A"})
        self.seed("Contact", [{"LastName": "a", "AccountId": acc, "Email": "a@example.com"},
                              {"LastName": "b", "AccountId": acc}, {"LastName": "c", "Email": "c@example.com"}])
        rows = self.c.query(f"SELECT Id, AccountId, Email FROM Contact WHERE AccountId IN ('{acc}') AND Email != null")
        self.assertEqual(["a@example.com"], [r["Email"] for r in rows[1]["records"]])

    def test_touch_and_records_controls(self):
        self.c.control("POST", "clock", {"now": T0})
        ids = self.seed("Account", [{"Name": "a"}, {"Name": "b"}])
        self.c.control("POST", "clock", {"advance": 30})
        status, body = self.c.control("POST", "touch", {"object": "Account", "ids": [ids[1]], "fields": {"Phone": "9"}})
        self.assertEqual(200, status, body)
        records = {r["Id"]: r for r in self.c.control("GET", "records/Account")[1]["records"]}
        self.assertEqual(("9", "2026-01-01T00:00:30.000+0000"), (records[ids[1]]["Phone"],
                                                                 records[ids[1]]["SystemModstamp"]))
        self.assertEqual(400, self.c.control("POST", "seed", {"object": "Account", "records": [{"Name": "ok"}, {}]})[0])
        self.assertEqual(2, len(self.c.control("GET", "records/Account")[1]["records"]))  # all or none

    def test_performance(self):
        started = time.monotonic()
        for chunk in range(5):
            self.seed("Account", [{"Name": f"P{chunk}-{i:04d}", "Phone": "1"} for i in range(2000)],
                      stamp_at=T0 + chunk * 100, step_s=0)
        seeding = time.monotonic() - started
        self.assertLess(seeding, 8.0, "10,000 records should seed in well under a second per thousand")
        started = time.monotonic()
        status, page, _ = self.c.query("SELECT Id, Name, Phone, SystemModstamp FROM Account WHERE SystemModstamp >= "
                                       "2026-01-01T00:00:00Z ORDER BY SystemModstamp ASC, Id ASC")
        elapsed = time.monotonic() - started
        self.assertEqual((10000, 2000), (page["totalSize"], len(page["records"])))
        self.assertLess(elapsed, 0.5, f"a 2000-row page took {elapsed:.3f}s")


class MultiCurrencyTests(FakeCase):
    extra_args = ["--multi-currency", "--currency", "EUR"]

    def test_currency_rules(self):
        std = self.c.control("GET", "org")[1]["standard_pricebook_id"]
        acc = self.create("Account", {"Name": "A"})
        self.assertEqual("EUR", self.c.api("GET", f"/sobjects/Account/{acc}")[1]["CurrencyIsoCode"])
        self.assertError(self.c.api("POST", "/sobjects/Account", {"Name": "A", "CurrencyIsoCode": "XXX"}), 400,
                         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
        product = self.create("Product2", {"Name": "Widget", "IsActive": True})
        eur = self.create("PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 10,
                                             "IsActive": True})
        jpy = self.create("PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 1000,
                                             "IsActive": True, "CurrencyIsoCode": "JPY"})
        opp = self.create("Opportunity", {"Name": "Yen deal", "StageName": "Qualification", "CloseDate": "2026-03-01",
                                          "CurrencyIsoCode": "JPY"})
        self.assertError(self.c.api("POST", "/sobjects/OpportunityLineItem", {
            "OpportunityId": opp, "PricebookEntryId": eur, "Quantity": 1, "UnitPrice": 1}), 400,
            "FIELD_INTEGRITY_EXCEPTION", "currency")
        self.assertError(self.c.api("POST", "/sobjects/OpportunityLineItem", {
            "OpportunityId": opp, "PricebookEntryId": jpy, "Quantity": 1, "UnitPrice": 1, "CurrencyIsoCode": "JPY"}),
            400, "INVALID_FIELD_FOR_INSERT_UPDATE")
        li = self.create("OpportunityLineItem", {"OpportunityId": opp, "PricebookEntryId": jpy, "Quantity": 3,
                                                 "UnitPrice": 333.5})
        item = self.c.api("GET", f"/sobjects/OpportunityLineItem/{li}")[1]
        self.assertEqual(("JPY", 1001.0, 1001.0), (item["CurrencyIsoCode"], item["Subtotal"], item["TotalPrice"]))
        self.assertError(self.c.api("PATCH", f"/sobjects/Opportunity/{opp}", {"CurrencyIsoCode": "EUR"}), 400,
                         "FIELD_INTEGRITY_EXCEPTION")
        rows = self.c.query("SELECT Id, CurrencyIsoCode FROM Opportunity WHERE CurrencyIsoCode = 'JPY'")[1]["records"]
        self.assertEqual([opp], [r["Id"] for r in rows])


class OfficialClientInVenv(unittest.TestCase):
    def test_simple_salesforce_drives_the_fake(self):
        selftest.run_official_client_checks(self, VENV_PYTHON, "simple_salesforce", "ensure_salesforce_client",
                                            "Tests/Fakes/salesforce/requirements-salesforce.txt", REQUIRE_CLIENT,
                                            "CONNECTOR_HOST_REQUIRE_SALESFORCE_CLIENT",
                                            "official_client_checks.OfficialClientTests", HERE, at_least=8)


if __name__ == "__main__":
    unittest.main()

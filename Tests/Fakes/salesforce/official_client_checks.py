"""simple-salesforce (PyPI, pinned in requirements-salesforce.txt) drives fake_salesforce.py: every answer, errors
included, must parse in the client. Runs with the python of .build/venv-salesforce (test_fake_salesforce.py's
OfficialClientInVenv starts it there, from this folder); a plain python3 cannot import simple_salesforce.

simple-salesforce always builds https://{host}/services/... URLs (the instance_url's scheme is dropped, and the
login host is https://{domain}.salesforce.com), so every client here gets a requests.Session whose adapter for
"https://" sends the call to the fake over plain http (same path and query).
"""

import csv
import io
import json
import sys
import unittest
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (SalesforceAuthenticationFailed, SalesforceExpiredSession,
                                          SalesforceMalformedRequest, SalesforceMoreThanOneRecord,
                                          SalesforceRefusedRequest, SalesforceResourceNotFound)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
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
USERNAME, CONSUMER_KEY = "integration@example.com", "fake_consumer_key"


class LoopbackAdapter(HTTPAdapter):
    """Sends https://ANY-HOST/path?query to the fake's http://127.0.0.1:PORT/path?query."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        split = urlsplit(request.url)
        request.url = self.base + split.path + (f"?{split.query}" if split.query else "")
        return super().send(request, **kwargs)


def loopback_session(base):
    session = requests.Session()
    session.mount("https://", LoopbackAdapter(base))
    return session


def make_key_and_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector-host fake")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


class OfficialClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.process, cls.base = selftest.start([sys.executable, str(HERE / "fake_salesforce.py"), "--port", "0"],
                                               ROOT, "fake_salesforce.py")
        cls.c = sf_testkit.Client(cls.base)
        cls.private_pem, cls.cert_pem = make_key_and_certificate()
        cls.other_private_pem, _ = make_key_and_certificate()

    @classmethod
    def tearDownClass(cls):
        selftest.stop(cls.process)

    def setUp(self):
        self.c.control("POST", "reset")
        self.c.control("POST", "org", {"certificate": self.cert_pem})
        self.c.control("POST", "fields", {"object": "Account", "fields": {
            "Ext_Key__c": {"type": "string", "external_id": True, "unique": True},
            "Legacy_Key__c": {"type": "string", "external_id": True}, "Balance_Due__c": "currency"}})
        self.token = self.c.login_refresh()["access_token"]
        self.sf = Salesforce(instance_url=self.base, session_id=self.token, version="59.0",
                             session=loopback_session(self.base))

    def jwt_client(self, private_pem=None):
        return Salesforce(username=USERNAME, consumer_key=CONSUMER_KEY, privatekey=private_pem or self.private_pem,
                          domain="login", version="59.0", session=loopback_session(self.base))

    def test_jwt_login_and_one_refresh_on_401(self):
        sf = self.jwt_client()
        self.assertEqual(f"127.0.0.1:{self.base.rsplit(':', 1)[1]}", sf.sf_instance)
        self.assertEqual(0, sf.query("SELECT Id FROM Account")["totalSize"])
        self.assertEqual(1, self.c.control("GET", "sessions")[1]["counts"]["jwt"])
        self.c.control("POST", "sessions", {"expire": True})
        self.assertEqual(0, sf.query("SELECT Id FROM Account")["totalSize"])  # 401 -> one new JWT -> retried
        self.assertEqual(2, self.c.control("GET", "sessions")[1]["counts"]["jwt"])
        with self.assertRaises(SalesforceAuthenticationFailed) as caught:
            self.jwt_client(self.other_private_pem)
        self.assertEqual("invalid_grant", caught.exception.code)

    def test_query_paging(self):
        self.c.control("POST", "seed", {"object": "Account", "records": [{"Name": f"N{i:03d}"} for i in range(450)]})
        soql = "SELECT Id, Name FROM Account ORDER BY Name"
        first = self.sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
        self.assertEqual((450, False, 200), (first["totalSize"], first["done"], len(first["records"])))
        second = self.sf.query_more(first["nextRecordsUrl"], identifier_is_url=True,
                                    headers={"Sforce-Query-Options": "batchSize=200"})
        self.assertEqual("N200", second["records"][0]["Name"])
        locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
        self.assertEqual("N200", self.sf.query_more(locator)["records"][0]["Name"])
        everything = self.sf.query_all(soql, headers={"Sforce-Query-Options": "batchSize=200"})
        self.assertEqual([f"N{i:03d}" for i in range(450)], [r["Name"] for r in everything["records"]])
        rid = everything["records"][0]["Id"]
        self.sf.Account.delete(rid)
        self.assertEqual(449, self.sf.query("SELECT Id FROM Account")["totalSize"])
        self.assertEqual(450, self.sf.query_all("SELECT Id FROM Account", include_deleted=True)["totalSize"])

    def test_sobject_crud_upsert_and_replication(self):
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        created = self.sf.Account.create({"Name": "Acme", "Balance_Due__c": 12.5})
        self.assertEqual({"id", "success", "errors"}, set(created))
        rid = created["id"]
        self.assertEqual(12.5, self.sf.Account.get(rid)["Balance_Due__c"])
        self.assertEqual(204, self.sf.Account.update(rid, {"Phone": "555"}))
        self.assertEqual(201, self.sf.Account.upsert("Ext_Key__c/k-1", {"Name": "By key"}))
        self.assertEqual(200, self.sf.Account.upsert("Ext_Key__c/k-1", {"Name": "By key 2"}))
        self.assertEqual("By key 2", self.sf.Account.get_by_custom_id("Ext_Key__c", "k-1")["Name"])
        self.assertEqual(204, self.sf.Account.delete(rid))
        with self.assertRaises(SalesforceResourceNotFound) as caught:
            self.sf.Account.get(rid)
        self.assertEqual("ENTITY_IS_DELETED", caught.exception.content[0]["errorCode"])
        end = datetime.now(timezone.utc) + timedelta(minutes=2)
        updated = self.sf.Account.updated(start, end)
        self.assertEqual(1, len(updated["ids"]))
        self.assertIn("latestDateCovered", updated)
        deleted = self.sf.Account.deleted(start, end)
        self.assertEqual([rid], [d["id"] for d in deleted["deletedRecords"]])
        fields = {f["name"]: f for f in self.sf.Account.describe()["fields"]}
        self.assertTrue(fields["Ext_Key__c"]["externalId"])
        self.assertIn("Account", [o["name"] for o in self.sf.describe()["sobjects"]])
        self.assertIn("DailyApiRequests", self.sf.limits())

    def test_bulk2_query(self):
        self.c.control("POST", "seed", {"object": "Account", "records": [
            {"Name": f"B{i}", "Balance_Due__c": i} for i in range(5)]})
        pages = list(self.sf.bulk2.Account.query("SELECT Id, Name, Balance_Due__c FROM Account", max_records=2,
                                                 wait=0.01))
        self.assertEqual(3, len(pages))
        rows = [row for page in pages for row in list(csv.DictReader(io.StringIO(page)))]
        self.assertEqual([f"B{i}" for i in range(5)], [r["Name"] for r in rows])
        self.assertEqual("3", rows[3]["Balance_Due__c"])
        self.sf.Account.delete(rows[0]["Id"])
        pages = list(self.sf.bulk2.Account.query_all("SELECT Id, IsDeleted FROM Account", wait=0.01))
        flags = [r["IsDeleted"] for page in pages for r in csv.DictReader(io.StringIO(page))]
        self.assertEqual(["true", "false", "false", "false", "false"], flags)
        self.c.control("POST", "bulk", {"fail_next": "query timed out"})
        with self.assertRaises(Exception) as caught:
            list(self.sf.bulk2.Account.query("SELECT Id FROM Account", wait=0.01))
        self.assertIn("query timed out", str(caught.exception))

    def test_collections_and_composite_through_restful(self):
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, "Ext_Key__c": "a", "Name": "A"},
            {"attributes": {"type": "Account"}, "Ext_Key__c": "b", "Nope": "x"}]}
        results = self.sf.restful("composite/sobjects/Account/Ext_Key__c", method="PATCH", data=json.dumps(body))
        self.assertEqual([True, False], [r["success"] for r in results])
        self.assertTrue(results[0]["created"])
        self.assertEqual("INVALID_FIELD", results[1]["errors"][0]["statusCode"])
        composite = self.sf.restful("composite", method="POST", data=json.dumps({"compositeRequest": [
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acc",
             "body": {"Name": "Parent"}},
            {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "con",
             "body": {"LastName": "Child", "AccountId": "@{acc.id}"}}]}))
        self.assertEqual([201, 201], [r["httpStatusCode"] for r in composite["compositeResponse"]])

    def test_api_usage(self):
        self.sf.query("SELECT Id FROM Account")
        used = self.sf.api_usage["api-usage"]
        self.sf.query("SELECT Id FROM Account")
        self.assertEqual((used.used + 1, 15000), (self.sf.api_usage["api-usage"].used,
                                                  self.sf.api_usage["api-usage"].total))
        self.assertEqual(18, Salesforce.parse_api_usage("api-usage=18/5000")["api-usage"].used)

    def test_exceptions(self):
        with self.assertRaises(SalesforceMalformedRequest) as caught:
            self.sf.query("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01'")
        self.assertEqual("INVALID_FIELD", caught.exception.content[0]["errorCode"])
        with self.assertRaises(SalesforceMalformedRequest):
            self.sf.Account.create({"Name": "A", "Unknown__c": 1})
        with self.assertRaises(SalesforceResourceNotFound):
            self.sf.Account.get("001Dn0000000zzzAAA")
        with self.assertRaises(SalesforceResourceNotFound):
            self.sf.restful("nothing/here")
        self.c.control("POST", "seed", {"object": "Account", "records": [
            {"Name": "L1", "Legacy_Key__c": "dup"}, {"Name": "L2", "Legacy_Key__c": "dup"}]})
        with self.assertRaises(SalesforceMoreThanOneRecord) as caught:
            self.sf.Account.upsert("Legacy_Key__c/dup", {"Name": "x"})
        self.assertEqual(2, len(caught.exception.content))
        self.c.control("POST", "limits", {"used": 15000})
        with self.assertRaises(SalesforceRefusedRequest) as caught:
            self.sf.query("SELECT Id FROM Account")
        self.assertEqual("REQUEST_LIMIT_EXCEEDED", caught.exception.content[0]["errorCode"])
        self.c.control("POST", "limits", {"used": 0})
        self.c.control("POST", "sessions", {"expire": True})
        with self.assertRaises(SalesforceExpiredSession) as caught:
            self.sf.query("SELECT Id FROM Account")
        self.assertEqual("INVALID_SESSION_ID", caught.exception.content[0]["errorCode"])

    def test_line_items_through_the_client(self):
        std = self.sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1")["records"][0]["Id"]
        product = self.sf.Product2.create({"Name": "Widget", "IsActive": True})["id"]
        pbe = self.sf.PricebookEntry.create({"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 19.99,
                                             "IsActive": True})["id"]
        opp = self.sf.Opportunity.create({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-06-30"})["id"]
        self.sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": pbe, "Quantity": 2,
                                            "UnitPrice": 19.99, "Discount": 50})
        self.assertEqual(19.99, self.sf.Opportunity.get(opp)["Amount"])


if __name__ == "__main__":
    unittest.main()

"""Stripe-Signature header vectors, judged by Stripe's official Python library (stripe on PyPI).

    python Tests/Fakes/stripe/signature_vectors.py > Tests/Fixtures/stripe-signature-vectors.json

Each case is a header, a body, a signing secret, a clock and a tolerance; its outcome is what
`stripe.WebhookSignature.verify_header` says: "ok", or the kind of its SignatureVerificationError
("no_header", "unparsable", "no_v1", "no_match", "stale"). ConnectorKit's WebhookSignature must
agree on every case (Tests/ConnectorKitTests/WebhookSignatureTests.swift); the test regenerates this
list with the library when the virtualenv of scripts/lib/common.sh has it, and compares.
"""
import hashlib
import hmac
import json
import sys
from unittest import mock

import stripe

SECRET = "signing secret of the vectors"
OTHER = "some other signing secret"
NOW = 1_767_000_000
BODY = '{"id":"evt_1","object":"event","type":"customer.created"}'


def sig(timestamp_text, body=BODY, secret=SECRET):
    return hmac.new(secret.encode(), f"{timestamp_text}.{body}".encode(), hashlib.sha256).hexdigest()


def cases():
    good = sig(NOW)
    yield "plain", f"t={NOW},v1={good}", BODY, NOW, 300
    yield "two signatures, second matches", f"t={NOW},v1={sig(NOW, secret=OTHER)},v1={good}", BODY, NOW, 300
    yield "v0 and unknown schemes ignored", f"t={NOW},v0=abc,v1={good},x=1", BODY, NOW, 300
    yield "no header", "", BODY, NOW, 300
    yield "no timestamp", f"v1={good}", BODY, NOW, 300
    yield "no v1", f"t={NOW},v0={good}", BODY, NOW, 300
    yield "wrong secret", f"t={NOW},v1={sig(NOW, secret=OTHER)}", BODY, NOW, 300
    yield "tampered body", f"t={NOW},v1={good}", BODY.replace("customer", "c0stomer"), NOW, 300
    yield "stale", f"t={NOW - 301},v1={sig(NOW - 301)}", BODY, NOW, 300
    yield "at the tolerance", f"t={NOW - 300},v1={sig(NOW - 300)}", BODY, NOW, 300
    yield "stale with a wrong signature", f"t={NOW - 301},v1={sig(NOW)}", BODY, NOW, 300
    yield "five minutes in the future", f"t={NOW + 300},v1={sig(NOW + 300)}", BODY, NOW, 300
    yield "a day in the future", f"t={NOW + 86400},v1={sig(NOW + 86400)}", BODY, NOW, 300
    yield "space after comma", f"t={NOW}, v1={good}", BODY, NOW, 300
    yield "space before t", f" t={NOW},v1={good}", BODY, NOW, 300
    yield "spaces around the timestamp", f"t= {NOW} ,v1={good}", BODY, NOW, 300
    yield "space in the signature", f"t={NOW},v1= {good}", BODY, NOW, 300
    yield "repeated t, first valid", f"t={NOW},t={NOW - 1000},v1={good}", BODY, NOW, 300
    yield "repeated t, second valid", f"t={NOW - 1000},t={NOW},v1={good}", BODY, NOW, 300
    yield "repeated t, first not a number", f"t=abc,t={NOW},v1={good}", BODY, NOW, 300
    yield "uppercase hex", f"t={NOW},v1={good.upper()}", BODY, NOW, 300
    yield "signature with =junk", f"t={NOW},v1={good}=junk", BODY, NOW, 300
    yield "timestamp with =junk", f"t={NOW}=junk,v1={good}", BODY, NOW, 300
    yield "t without =", f"t,t={NOW},v1={good}", BODY, NOW, 300
    yield "v1 without =", f"t={NOW},v1,v1={good}", BODY, NOW, 300
    yield "empty items", f",t={NOW},,v1={good},", BODY, NOW, 300
    yield "leading zeros, signed as given", f"t=0{NOW},v1={sig('0' + str(NOW))}", BODY, NOW, 300
    yield "leading zeros, signed as a number", f"t=0{NOW},v1={good}", BODY, NOW, 300
    yield "plus sign", f"t=+{NOW},v1={good}", BODY, NOW, 300
    yield "underscores in the timestamp", f"t={str(NOW)[:4]}_{str(NOW)[4:]},v1={good}", BODY, NOW, 300
    yield "double underscore", f"t={str(NOW)[:4]}__{str(NOW)[4:]},v1={good}", BODY, NOW, 300
    yield "negative timestamp", f"t=-5,v1={sig(-5)}", BODY, NOW, 0
    yield "fractional timestamp", f"t={NOW}.0,v1={good}", BODY, NOW, 300
    yield "empty timestamp", f"t=,v1={good}", BODY, NOW, 300
    yield "empty signature", f"t={NOW},v1=", BODY, NOW, 300
    yield "T uppercase key", f"T={NOW},v1={good}", BODY, NOW, 300
    yield "V1 uppercase key", f"t={NOW},V1={good}", BODY, NOW, 300
    yield "semicolons", f"t={NOW};v1={good}", BODY, NOW, 300
    yield "tolerance off", f"t={NOW - 100000},v1={sig(NOW - 100000)}", BODY, NOW, 0
    unicode = '{"name":"Zoë ✓"}'
    yield "unicode body", f"t={NOW},v1={sig(NOW, body=unicode)}", unicode, NOW, 300


def judge(header, body, now, tolerance):
    with mock.patch("time.time", return_value=float(now)):
        try:
            stripe.WebhookSignature.verify_header(body, header, SECRET, tolerance=tolerance or None)
            return "ok"
        except stripe.SignatureVerificationError as error:
            message = str(error)
            for prefix, kind in [("No Stripe-Signature header", "no_header"), ("Unable to extract", "unparsable"),
                                 ("No signatures found with expected scheme", "no_v1"),
                                 ("No signatures found matching", "no_match"), ("Timestamp outside", "stale")]:
                if message.startswith(prefix):
                    return kind
            raise


def main():
    vectors = [{"name": name, "header": header, "body": body, "secret": SECRET, "now": now, "tolerance": tolerance,
                "stripe": judge(header, body, now, tolerance)}
               for name, header, body, now, tolerance in cases()]
    json.dump({"library": f"stripe {stripe.VERSION} (PyPI)", "vectors": vectors}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

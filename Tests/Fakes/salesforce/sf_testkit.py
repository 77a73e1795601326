"""Helpers the Salesforce fake's self-tests share (standard library only): a pure-Python RSA key pair, its public
key as a PEM (SubjectPublicKeyInfo or a minimal X.509-shaped certificate), RS256 JWT assertions, and a small
HTTP client for the fake's API and controls."""

import base64
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request

SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % q for q in range(3, int(p ** 0.5) + 1, 2))]
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _probable_prime(n, rng):
    if any(n % p == 0 for p in SMALL_PRIMES):
        return n in SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(24):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits, rng):
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if _probable_prime(n, rng):
            return n


class RsaKey:
    """An RSA key pair made here (1024 bits by default: fast, enough for a test)."""

    def __init__(self, bits=1024, seed=None):
        rng = random.Random(seed)
        self.e = 65537
        while True:
            p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
            phi = (p - 1) * (q - 1)
            if p != q and phi % self.e:
                break
        self.n, self.d = p * q, pow(self.e, -1, phi)

    def sign(self, data: bytes) -> bytes:
        import hashlib
        k = (self.n.bit_length() + 7) // 8
        t = DIGEST_INFO + hashlib.sha256(data).digest()
        em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        return pow(int.from_bytes(em, "big"), self.d, self.n).to_bytes(k, "big")

    def spki_der(self):
        rsa = _der(0x30, _der_int(self.n) + _der_int(self.e))
        algorithm = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + _der(0x05, b""))
        return _der(0x30, algorithm + _der(0x03, b"\x00" + rsa))

    def public_key_pem(self):
        return _pem("PUBLIC KEY", self.spki_der())

    def certificate_pem(self):
        """A certificate with the X.509 layout (the fake reads the key from it; the signature is not checked)."""
        sig_alg = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d01010b")) + _der(0x05, b""))
        name = _der(0x30, _der(0x31, _der(0x30, _der(0x06, bytes.fromhex("550403")) + _der(0x0C, b"fake"))))
        validity = _der(0x30, _der(0x17, b"240101000000Z") + _der(0x17, b"340101000000Z"))
        tbs = _der(0x30, _der(0xA0, _der_int(2)) + _der_int(1234) + sig_alg + name + validity + name + self.spki_der())
        return _pem("CERTIFICATE", _der(0x30, tbs + sig_alg + _der(0x03, b"\x00" + self.sign(tbs))))

    def jwt(self, claims, header=None):
        head = _b64url(json.dumps(header or {"alg": "RS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(claims).encode())
        signing_input = f"{head}.{body}".encode()
        return f"{head}.{body}.{_b64url(self.sign(signing_input))}"


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_int(n):
    raw = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return _der(0x02, raw)


def _pem(kind, der):
    text = base64.b64encode(der).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def expected_suffix(id15):
    """The 3-character case-safe suffix, computed independently of the fake."""
    out = ""
    for i in range(3):
        chunk = id15[i * 5:(i + 1) * 5]
        bits = sum(1 << j for j, c in enumerate(chunk) if c.isupper())
        out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return out


class Client:
    """Plain HTTP to the fake: ``api`` (REST under /services/data/vXX.X), ``control`` (/__fake__), ``token``."""

    def __init__(self, base, version="59.0"):
        self.base, self.version, self.token_value = base, version, None

    def request(self, method, url, body=None, headers=None, raw=False):
        data = None
        all_headers = dict(headers or {})
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
                all_headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, payload, got = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, payload, got = e.code, e.read(), e.headers
        if raw:
            return status, payload.decode("utf-8"), got
        return status, json.loads(payload) if payload else None, got

    def control(self, method, name, spec=None):
        status, body, _ = self.request(method, f"/__fake__/{name}", spec if spec is not None else
                                       ({} if method == "POST" else None))
        return status, body

    def token(self, form, headers=None):
        data = urllib.parse.urlencode(form)
        status, body, _ = self.request("POST", "/services/oauth2/token", data, {
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        return status, body

    def login_refresh(self, refresh_token="fake_refresh_token"):
        status, body = self.token({"grant_type": "refresh_token", "client_id": "fake_consumer_key",
                                   "client_secret": "fake_client_secret", "refresh_token": refresh_token})
        assert status == 200, body
        self.token_value = body["access_token"]
        return body

    def api(self, method, path, body=None, headers=None, version=None, raw=False, token=None):
        all_headers = {"Authorization": f"Bearer {token or self.token_value}", **(headers or {})}
        prefix = f"/services/data/v{version or self.version}"
        return self.request(method, prefix + path, body, all_headers, raw)

    def query(self, soql, path="query", headers=None):
        return self.api("GET", f"/{path}?" + urllib.parse.urlencode({"q": soql}), headers=headers)


def now_s():
    return int(time.time())

#!/usr/bin/env python3
"""A loopback OAuth 2.0 token endpoint and one protected resource, for ConnectorKit's OAuthTokens tests.

POST /token            grant_type=refresh_token (client_id, client_secret, refresh_token) or
                       grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer (assertion, recorded as sent).
                       Answers {"access_token", "token_type": "Bearer", "expires_in"?, "refresh_token"?} or an
                       RFC 6749 error {"error": "invalid_grant"|"invalid_client"|"unsupported_grant_type", ...} (400/401).
GET  /api              200 {"ok": true} with "Authorization: Bearer <the current access token>", else 401.
POST /__fake__/config  {"expires_in": int|null, "rotate": bool, "delay_ms": int, "fail_status": int}
POST /__fake__/expire  the current access token stops working (a 401 from /api).
GET  /__fake__/state   {"token_requests", "assertions", "refresh_token", "access_token"}

Binds 127.0.0.1 only; prints "listening 127.0.0.1:PORT" first. Standard library only.
Assumption (not a vendor's recording): the shapes are RFC 6749 §5.1/§5.2 and RFC 7523 as HubSpot's
/oauth/v1/token and Salesforce's /services/oauth2/token document them.
"""
import argparse
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"client_id": "client-1", "client_secret": "", "refresh_token": "", "access_token": None, "serial": 0,
         "expires_in": 1800, "rotate": False, "delay_ms": 0, "fail_status": 0, "token_requests": 0, "assertions": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path))

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        if self.path == "/api":
            with LOCK:
                ok = STATE["access_token"] is not None and self.headers.get("Authorization") == "Bearer " + STATE["access_token"]
            return self.reply(200, {"ok": True}) if ok else self.reply(401, {"status": "error", "category": "INVALID_AUTHENTICATION"})
        if self.path == "/__fake__/state":
            with LOCK:
                return self.reply(200, {k: STATE[k] for k in ("token_requests", "assertions", "refresh_token", "access_token")})
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        raw = self.body()
        if self.path == "/__fake__/config":
            with LOCK:
                STATE.update(json.loads(raw or b"{}"))
            return self.reply(200, {"ok": True})
        if self.path == "/__fake__/expire":
            with LOCK:
                STATE["access_token"] = "expired-" + (STATE["access_token"] or "")
            return self.reply(200, {"ok": True})
        if self.path != "/token":
            return self.reply(404, {"error": "not_found"})
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
        with LOCK:
            STATE["token_requests"] += 1
            delay, fail = STATE["delay_ms"], STATE["fail_status"]
        if delay:
            time.sleep(delay / 1000)
        if fail:
            return self.reply(fail, {"error": "server_error"})
        with LOCK:
            grant = form.get("grant_type")
            if grant == "refresh_token":
                if form.get("client_id") != STATE["client_id"] or form.get("client_secret") != STATE["client_secret"]:
                    return self.reply(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
                if form.get("refresh_token") != STATE["refresh_token"]:
                    return self.reply(400, {"error": "invalid_grant", "error_description": "refresh token is not valid"})
            elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                STATE["assertions"].append(form.get("assertion"))
            else:
                return self.reply(400, {"error": "unsupported_grant_type"})
            STATE["serial"] += 1
            STATE["access_token"] = "at-%d" % STATE["serial"]
            answer = {"access_token": STATE["access_token"], "token_type": "Bearer"}
            if STATE["expires_in"] is not None:
                answer["expires_in"] = STATE["expires_in"]
            if grant == "refresh_token" and STATE["rotate"]:
                STATE["refresh_token"] = "rt-%d" % STATE["serial"]
                answer["refresh_token"] = STATE["refresh_token"]
        self.reply(200, answer)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--refresh-token", required=True)
    args = parser.parse_args()
    STATE["client_secret"], STATE["refresh_token"] = args.client_secret, args.refresh_token
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening 127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

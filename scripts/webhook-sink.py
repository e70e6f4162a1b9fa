#!/usr/bin/env python3
"""A partner's webhook endpoint for trying Troupe's notifications by hand: prints every POST it gets and
whether its Troupe-Signature verifies with the secret `troupe partner webhook` printed.

usage: scripts/webhook-sink.py SECRET [PORT]     (default port 9100; answers 200 to every POST)
"""
import hashlib
import hmac
import http.server
import sys
import time

SECRET = sys.argv[1].encode() if len(sys.argv) > 1 else b""
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9100
TOLERANCE = 300  # seconds: an older signature is a replay


def verify(header, body):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > TOLERANCE:
        return False
    expected = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, v1)


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))  # the raw body: verify before parsing
        ok = verify(self.headers.get("troupe-signature", ""), body)
        print(f"{self.path} event {self.headers.get('troupe-event-id')} signature {'valid' if ok else 'INVALID'}\n  {body.decode()}", flush=True)
        self.send_response(200 if ok else 400)
        self.end_headers()

    def log_message(self, *args):
        pass


print(f"webhook sink on http://127.0.0.1:{PORT}/", flush=True)
http.server.HTTPServer(("127.0.0.1", PORT), Sink).serve_forever()

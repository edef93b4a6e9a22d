#!/usr/bin/env python3
"""A stand-in for OS2iot's generic HTTP receiver, for tests/integration/os2iot_http.sh.

POST /api/v1/receive-data?apiKey=<uuid>: the body must parse as JSON (else 400, and the
request is recorded as bad); a key listed in the keys file gets 204, any other 403, and
while the mode file says 503 every request gets 503. Every request is appended, as one
JSON line, to the record file: {"status", "api_key", "path", "body" or "bad"}. HTTPS with
the certificate and key given, HTTP/1.1 keep-alive.

usage: os2iot_http_server.py PORT CERT KEY KEYS_FILE MODE_FILE RECORD_FILE
"""
import http.server
import json
import ssl
import sys
import urllib.parse

port, cert, key, keys_file, mode_file, record_file = sys.argv[1:7]


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the record file says what came
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        api_key = query.get("apiKey", [""])[0]
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        entry = {"path": url.path, "api_key": api_key,
                 "content_type": self.headers.get("Content-Type", "")}
        try:
            entry["body"] = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            entry["bad"] = raw.decode("latin-1")
        if "bad" in entry:
            status = 400
        elif read(mode_file).strip() == "503":
            status = 503
        elif url.path != "/api/v1/receive-data":
            status = 404
        elif api_key in read(keys_file).split():
            status = 204
        else:
            status = 403
        entry["status"] = status
        with open(record_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        self.answer(status)


server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()

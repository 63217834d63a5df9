#!/usr/bin/env python3
"""http-echo.py - a loopback HTTP server with misbehaving endpoints for tst_http

Endpoints (all answers are JSON unless said otherwise):
  /sleep?ms=N            wait N ms; the server keeps the peak number of
                         requests in flight (see /stats)
  /flaky?key=K&fail=N&code=C[&ra=S]
                         the first N hits of key K answer C (with
                         "Retry-After: S" when ra is given), later ones 200
  /status?code=C         answer C with {"detail": "status C"}
  /reset                 promise 1000 bytes, send 10, reset the connection
  /hang                  never answer (until the client goes away)
  /trickle?n=N&ms=M      a JSON string of N bytes, one byte every M ms
  /redirect              302 to /target; /target counts its hits
  /auth                  {"auth": "<Authorization header or empty>"}
  /echo                  method, headers and body of the request
  /big?n=N               N bytes of JSON
  /gzip                  a gzip-encoded body
  /link                  two Link headers (one lowercase)
  /ka/...                a small answer, for keep-alive counting
  /stats?prefix=P        {"hits": requests whose path starts with P,
                          "connections": distinct connections among them,
                          "max_inflight": peak of /sleep}
"""

import argparse
import gzip
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

lock = threading.Lock()
inflight = 0
max_inflight = 0
flaky_hits = {}
log = []  # (path, connection id)
conn_ids = iter(range(1, 1 << 30))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            self.conn_id = next(conn_ids)

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, obj=None, headers=(), raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_PATCH(self):
        self.do_GET()

    def do_GET(self):
        global inflight, max_inflight
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if not u.path.startswith("/stats"):
            with lock:
                log.append((u.path, self.conn_id))
        p = u.path
        if p == "/sleep":
            with lock:
                inflight += 1
                max_inflight = max(max_inflight, inflight)
            time.sleep(int(q.get("ms", "200")) / 1000)
            with lock:
                inflight -= 1
            self.answer(200, {"slept": True})
        elif p == "/flaky":
            key = q["key"]
            with lock:
                flaky_hits[key] = flaky_hits.get(key, 0) + 1
                hit = flaky_hits[key]
            if hit <= int(q.get("fail", "0")):
                hdrs = [("retry-after", q["ra"])] if "ra" in q else []
                self.answer(int(q.get("code", "500")), {"hit": hit}, hdrs)
            else:
                self.answer(200, {"hit": hit})
        elif p == "/status":
            code = int(q["code"])
            self.answer(code, {"detail": "status %d" % code})
        elif p == "/reset":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"partial"')
            self.wfile.flush()
            time.sleep(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif p == "/hang":
            self.connection.settimeout(0.1)
            for _ in range(100):
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        break
                except socket.timeout:
                    pass
                except OSError:
                    break
            self.close_connection = True
        elif p == "/trickle":
            n, ms = int(q.get("n", "10")), int(q.get("ms", "100"))
            body = b'"' + b"t" * max(0, n - 2) + b'"'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            try:
                for i in range(len(body)):
                    time.sleep(ms / 1000)
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True
        elif p == "/redirect":
            self.answer(302, {}, [("Location", "/target")])
        elif p == "/target":
            self.answer(200, {"target": True})
        elif p == "/auth":
            self.answer(200, {"auth": self.headers.get("Authorization") or ""})
        elif p == "/echo":
            self.answer(200, {
                "method": self.command,
                "content_type": self.headers.get("Content-Type") or "",
                "accept": self.headers.get("Accept") or "",
                "user_agent": self.headers.get("User-Agent") or "",
                "body": body.decode(),
            })
        elif p == "/big":
            self.answer(200, raw=b'"' + b"x" * (int(q["n"]) - 2) + b'"')
        elif p == "/gzip":
            raw = gzip.compress(json.dumps({"zipped": "y" * 1000}).encode())
            self.answer(200, raw=raw, headers=[("Content-Encoding", "gzip")])
        elif p == "/link":
            self.answer(200, [], [
                ("Link", '<http://h/?page=2>; rel="next"'),
                ("link", '<http://h/?page=1>; rel="prev"'),
            ])
        elif p.startswith("/ka/"):
            self.answer(200, {"ka": p})
        elif p == "/stats":
            prefix = q.get("prefix", "/")
            with lock:
                hits = [c for (lp, c) in log if lp.startswith(prefix)]
                out = {"hits": len(hits), "connections": len(set(hits)),
                       "max_inflight": max_inflight}
            self.answer(200, out)
        else:
            self.answer(404, {"detail": "Not found."})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A webhook receiver for test/t/030_webhooks.pl and tools/bench.sh.

    webhook_receiver.py PORT LOG

Answers POSTs by the first segment of their path, and appends one JSON line
per request to LOG (path, headers, body, the time received, the status
answered):
    /ok/...     200
    /fail/...   500, always
    /flaky/...  500 the first time an event id comes to /flaky, then 200
    /slow/...   sleeps 3 s the first time an event id comes to /slow, then 200
    /count/...  200, logging only a count (for the benchmark): LOG gets one
                line per second with the requests so far
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log_path = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
seen = set()
count = 0
log = open(log_path, "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # the status line and headers, then the body, are two writes: without
    # this, Nagle and the sender's delayed ACK hold each answer 40 ms
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        kind = self.path.split("/")[1]
        event = self.headers.get("Esqase-Event-Id", "")
        with lock:
            first = (kind, event) not in seen
            seen.add((kind, event))
            count += 1
        status = 200
        if kind == "fail" or (kind == "flaky" and first):
            status = 500
        if kind == "slow" and first:
            time.sleep(3)
        if kind != "count":
            with lock:
                log.write(json.dumps({"path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode("utf-8"), "at": time.time(),
                                      "status": status}) + "\n")
        try:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except (BrokenPipeError, ConnectionResetError):
            pass    # the sender gave up (its timeout)


def report():
    while True:
        time.sleep(1)
        with lock:
            log.write(json.dumps({"count": count, "at": time.time()}) + "\n")


if __name__ == "__main__":
    # a listen backlog for the sender's many connections at once (the
    # default, 5, drops SYNs: a second's retransmit each)
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if "--count" in sys.argv:
        threading.Thread(target=report, daemon=True).start()
    server.serve_forever()

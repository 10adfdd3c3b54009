#!/usr/bin/env python3
"""The 0.2.0 probe's F5 (issue 21): a normal client, a new connection every
0.1 s with GET /v1/contacts?limit=1, while loopback clients (exempt from the
per-address limit) flood the front door for SECONDS; prints how many of the
normal client's requests were answered, closed without an answer, or failed
otherwise, and the slowest.  Run it against a server of your own.

usage: front-door-churn.py PORT TOKEN MODE SECONDS
  MODE: none       no flood
        connclose  connect and close at once (FLOODERS processes, default 3)
        partial    connect, send part of a header, close
        halfbody   connect, send headers and half a body, close
        silent     connect and hold 300 silent connections per flooder
        slowbody   1000 connections trickling bodies, reconnecting"""
import socket, sys, time, multiprocessing as mp, os

port, token, mode, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
REQ = (f"GET /v1/contacts?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
       "Connection: close\r\n\r\n").encode()

def flood(stop_at):
    n = 0
    held = []
    while time.time() < stop_at:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if mode == "silent":
                held.append(s)
                if len(held) > 300: held.pop(0).close()
                n += 1
                continue
            if mode == "partial":
                s.send(b"GET /v1/contacts HTTP/1.1\r\nHost: x\r\nX-A: ")
            elif mode == "halfbody":
                s.send(b"POST /v1/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 100\r\n\r\n{\"name\":")
            s.close(); n += 1
        except OSError:
            pass
    return n

def slowbody(stop_at, count):
    socks = []
    hdr = (b"POST /v1/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100000\r\n\r\n")
    while time.time() < stop_at:
        while len(socks) < count and time.time() < stop_at:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.setblocking(False); s.send(hdr); socks.append(s)
            except OSError:
                break
        alive = []
        for s in socks:
            try:
                s.send(b" "); alive.append(s)
            except OSError:
                s.close()
        socks = alive
        time.sleep(0.5)
    return len(socks)

def normal(stop_at, q):
    ok = dropped = other = 0; worst = 0.0; kinds = {}
    while time.time() < stop_at:
        t0 = time.time()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(REQ)
            got = b""
            while True:
                b = s.recv(65536)
                if not b: break
                got += b
            s.close()
            if got.startswith(b"HTTP/1.1 200"): ok += 1
            elif not got: dropped += 1
            else:
                other += 1; st = got[:12].decode(errors="replace"); kinds[st] = kinds.get(st, 0) + 1
        except (ConnectionResetError, BrokenPipeError):
            dropped += 1
        except OSError as e:
            other += 1; kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
        worst = max(worst, time.time() - t0)
        time.sleep(max(0, 0.1 - (time.time() - t0)))
    q.put((ok, dropped, other, worst, kinds))

if __name__ == "__main__":
    start = time.time(); stop_at = start + secs
    q = mp.Queue()
    procs = []
    if mode in ("connclose", "partial", "halfbody", "silent"):
        procs = [mp.Process(target=flood, args=(stop_at,)) for _ in range(int(os.environ.get("FLOODERS", "3")))]
    elif mode == "slowbody":
        procs = [mp.Process(target=slowbody, args=(stop_at, 250)) for _ in range(4)]
    for p in procs: p.start()
    time.sleep(0.5)
    n = mp.Process(target=normal, args=(stop_at, q)); n.start()
    ok, dropped, other, worst, kinds = q.get(); n.join()
    for p in procs: p.join()
    total = ok + dropped + other
    print(f"mode={mode} normal requests={total} ok={ok} dropped_no_answer={dropped} other={other} {kinds} worst={worst:.3f}s")

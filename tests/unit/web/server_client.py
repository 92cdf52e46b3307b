#!/usr/bin/env python3
"""The HTTP client of test_server.c: talks real HTTP to a running sieve web server.

Usage: server_client.py PORT TOKEN RUN FRAMES_KEY MASK_KEY TIMEOUT_S. Exits non-zero, naming the
check, at the first failure. Standard library only.
"""
import http.client
import json
import socket
import sys
import time

PORT, TOKEN, RUN, FRAMES, MASK = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
PORT = int(PORT)
TIMEOUT = float(sys.argv[6])  # the server's request timeout


def fail(msg):
    print("server_client: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def request(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("Content-Type") or "", data


def get_json(path, want=200):
    status, ctype, data = request("GET", path)
    check(status == want, "GET %s: %d, expected %d: %r" % (path, status, want, data[:200]))
    check(ctype.startswith("application/json"), "GET %s: content type %r" % (path, ctype))
    doc = json.loads(data)
    if want >= 400:
        check(isinstance(doc.get("error"), str), "GET %s: no JSON error" % path)
    return doc


def raw(request_bytes, read_timeout=5.0):
    """Sends raw bytes, returns everything the server sends until it closes or stalls."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=read_timeout)
    s.sendall(request_bytes)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"Content-Length" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
    except socket.timeout:
        pass
    s.close()
    return out


def raw_status(out):
    try:
        return int(out.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


# ---- read endpoints ----
runs = get_json("/api/runs")
check(runs["total"] == 2 and runs["items"][0]["name"] == "sweep-b", "runs: %r" % runs)
check(get_json("/api/runs?state=running&limit=5")["total"] == 0, "runs?state")
run = get_json("/api/runs/%s" % RUN)
check([n["node"] for n in run["nodes"]] == ["decode", "evaluate"], "run nodes: %r" % run)
tasks = get_json("/api/runs/%s/tasks?node=decode&limit=2" % RUN)
check(tasks["total"] == 3 and len(tasks["items"]) == 2, "tasks: %r" % tasks)
status, ctype, data = request("GET", "/api/runs/%s/tasks/0/log" % RUN)
check(status == 200 and data == b"decode: 4 frames\n" and ctype.startswith("text/plain"),
      "log: %d %r %r" % (status, ctype, data))
get_json("/api/runs/%s/tasks/1/log" % RUN, 404)  # not run yet: no log file
table = get_json("/api/runs/%s/table?pivot=keep" % RUN)
check(table["metric"] == "retention" and table["columns"] == ["0.25", "0.5"], "table: %r" % table)
art = get_json("/api/artifacts/%s" % FRAMES)
check(art["tensors"][0]["shape"] == [4, 56, 84, 3], "artifact: %r" % art)
status, ctype, data = request("GET", "/api/artifacts/%s/file" % FRAMES)
check(status == 200 and len(data) == art["bytes"], "file: %d %d" % (status, len(data)))
header_len = int.from_bytes(data[:8], "little")
check(json.loads(data[8:8 + header_len])["frames"]["dtype"] == "U8", "file is safetensors")
ov = get_json("/api/artifacts/%s/overlay?frame=2&mask=%s" % (FRAMES, MASK))
check(ov["mask"]["bits"] == "111110" and ov["width"] == 84, "overlay: %r" % ov["mask"])
check(get_json("/api/devices")["devices"][0]["name"] == "fake:0", "devices")
status, ctype, data = request("GET", "/")
check(status == 200 and b"sieve" in data and ctype.startswith("text/html"), "static /")
get_json("/nothing.js", 404)
get_json("/sub", 404)  # a directory is not a file
c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
c.request("HEAD", "/api/runs")
r = c.getresponse()
check(r.status == 200 and r.read() == b"", "HEAD /api/runs: %d" % r.status)
c.close()
get_json("/api/artifacts/%064x" % 0xdead, 404)

# ---- writes: token and origin ----
body = json.dumps({"path": "/p/x.yaml", "text": "name: x\n", "sets": ["keep=0.5"]})
js = {"Content-Type": "application/json"}
status, _, _ = request("POST", "/api/runs", body, js)
check(status == 401, "submit without token: %d" % status)
status, _, _ = request("POST", "/api/runs", body, dict(js, Authorization="Bearer " + "0" * 64))
check(status == 401, "submit with a wrong token: %d" % status)
auth = dict(js, Authorization="Bearer " + TOKEN)
status, _, _ = request("POST", "/api/runs", body, dict(auth, Origin="http://evil.example"))
check(status == 403, "cross-origin submit: %d" % status)
status, _, data = request("POST", "/api/runs", body,
                          dict(auth, Origin="http://127.0.0.1:%d" % PORT))
check(status == 201 and json.loads(data)["run"] == 100, "submit: %d %r" % (status, data))
status, _, _ = request("POST", "/api/runs/%s/cancel" % RUN, None, auth)
check(status == 503, "cancel without a hook: %d" % status)

# ---- traversal in the raw request line ----
for target in ["/api/artifacts/../../etc/passwd", "/api/artifacts/%2e%2e/%2e%2e/etc/passwd",
               "/api/artifacts/..%2f..%2fetc%2fpasswd", "/api/artifacts/%2E%2E%2F%2E%2E%2Fetc",
               "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
               "/api/artifacts/..%5c..%5cetc%5cpasswd", "/api/artifacts/" + FRAMES + "/../file"]:
    out = raw(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % target)
              .encode())
    st = raw_status(out)
    check(400 <= st < 500, "traversal %s: %d" % (target, st))
    check(b"root:" not in out, "traversal %s leaked /etc/passwd" % target)

# ---- limits ----
big = b'{"path":"/a.yaml","text":"' + b"x" * (2 << 20) + b'"}'
head = ("POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (TOKEN, len(big))).encode()
st = raw_status(raw(head))  # the server answers from the length alone
check(st == 413, "oversize body: %d" % st)
st = raw_status(raw(("GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: %s\r\n"
                     "Connection: close\r\n\r\n" % ("y" * 20000)).encode()))
check(st == 431, "oversize header: %d" % st)
many = "".join("X-H%d: v\r\n" % i for i in range(80))
st = raw_status(raw(("GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n"
                     % many).encode()))
check(st == 431, "too many headers: %d" % st)


def closed_within(send, seconds):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=seconds)
    if send:
        s.sendall(send)
    start = time.time()
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return time.time() - start
    except socket.timeout:
        return None
    finally:
        s.close()


# An idle connection, a slow request head and a slow body are closed after the timeout.
for what, send in [("an idle connection", b""),
                   ("a slow request head", b"GET /api/runs HTTP/1.1\r\nHost: 127"),
                   ("a slow body", b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 100"
                                   b"\r\n\r\n{\"pa")]:
    t = closed_within(send, TIMEOUT * 2)
    check(t is not None, "%s stayed open" % what)
    check(t > TIMEOUT * 0.5, "%s closed after %.1f s, before the timeout" % (what, t))


# ---- server-sent events ----
class Stream:
    def __init__(self, last_id=None):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        extra = "Last-Event-ID: %s\r\n" % last_id if last_id is not None else ""
        self.s.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % extra).encode())
        self.buf = b""

    def events(self, n):
        """Reads until n events (id lines) arrived; returns [(id, event, data)]."""
        while self.buf.count(b"\nid: ") + self.buf.startswith(b"id: ") < n:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        out = []
        for block in self.buf.replace(b"\r\n", b"\n").split(b"\n\n"):
            fields = {}
            for line in block.split(b"\n"):
                if line.startswith((b"id: ", b"event: ", b"data: ")):
                    k, _, v = line.partition(b": ")
                    fields.setdefault(k.decode(), []).append(v.decode())
            if "id" in fields:
                out.append((int(fields["id"][0]), fields["event"][0], "\n".join(fields["data"])))
        return out

    def close(self):
        self.s.close()


stream = Stream()
# Wait for the response head, so the stream is registered before we publish.
while b"\r\n\r\n" not in stream.buf:
    stream.buf += stream.s.recv(4096)
check(b"text/event-stream" in stream.buf, "events content type: %r" % stream.buf[:200])
for _ in range(2):
    status, _, _ = request("POST", "/api/runs", body, auth)
    check(status == 201, "submit for events: %d" % status)
evs = stream.events(2)
check(len(evs) == 2, "events delivered: %r" % evs)
check(evs[0][1] == "run" and json.loads(evs[0][2])["run"] == 101, "event 1: %r" % (evs[0],))
check(evs[1][0] == evs[0][0] + 1, "ids increase: %r" % evs)
stream.close()
again = Stream(last_id=evs[0][0])
got = again.events(1)
check(got and got[0][0] == evs[1][0], "resume from Last-Event-ID: %r" % got)
check(all(e[0] > evs[0][0] for e in got), "resume sent old events: %r" % got)
again.close()
# A stream still open when the server closes ends with it.
Stream()
print("server_client: all checks passed")

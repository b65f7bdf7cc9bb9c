#!/usr/bin/env python3
"""hub_server.py — a stand-in for the Hugging Face hub on 127.0.0.1, for test_hub.c (standard
library only). It answers as the hub does:

  GET  /api/models/ORG/NAME/tree/main[?recursive=...]   the file list (path, size, lfs.oid)
  HEAD /ORG/NAME/resolve/main/PATH   X-Repo-Commit, X-Linked-Etag (SHA-256), X-Linked-Size, ETag
  GET  /ORG/NAME/resolve/main/PATH   the same headers, and a 302 to the storage URL
  GET  /storage/ORG/NAME/PATH        the bytes, with Range (206 + Content-Range)

The storage URL names the host "localhost" (the client came to 127.0.0.1): another host to the
client, which must not send it the Authorization header.

Repos are folders ROOT/ORG/NAME/ holding the files; ROOT/ORG/NAME.json may say how it behaves:
  {"gated": true,            401 (X-Error-Code: GatedRepo) without "Bearer hf_good",
                             403 with another token
   "cut": ["FILE", ...],     the first GET of the bytes stops at half the file
   "corrupt": ["FILE", ...], the advertised SHA-256 is not that of the bytes
   "stall": ["FILE", ...],   the bytes: 1 kB, then nothing for 30 s
   "no_range": ["FILE"],     Range ignored (200 with everything)
   "trickle": ["FILE"],      the bytes in 64 kB pieces, 100 ms apart
   "huge": {"FILE": SIZE}}   a file advertised (listing and X-Linked-Size) with that size
                             (too large for the disk, or just not its size)

Every request is appended to ROOT/requests.log as one JSON object per line (method, path,
range, authorization, host). The port goes to --port-file once listening. The server stops by
itself after --lifetime seconds, or when its parent process is gone."""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
CUT_DONE = set()


def repo_conf(org, name):
    p = os.path.join(ARGS.root, org, name + ".json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {}


def repo_dir(org, name):
    d = os.path.join(ARGS.root, org, name)
    return d if os.path.isdir(d) else None


def files_of(d):
    out = []
    for base, _, names in os.walk(d):
        for n in names:
            full = os.path.join(base, n)
            out.append(os.path.relpath(full, d).replace(os.sep, "/"))
    return sorted(out)


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def commit_of(d):
    h = hashlib.sha1()
    for rel in files_of(d):
        h.update(rel.encode() + b"\0" + sha256_file(os.path.join(d, rel)).encode())
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def record(self):
        entry = {
            "method": self.command,
            "path": self.path,
            "range": self.headers.get("Range"),
            "authorization": self.headers.get("Authorization"),
            "host": self.headers.get("Host"),
        }
        with LOCK, open(os.path.join(ARGS.root, "requests.log"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def reply(self, code, headers=None, body=b""):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, ec, msg):
        self.reply(code, {"X-Error-Code": ec, "X-Error-Message": msg,
                          "Content-Type": "application/json"},
                   json.dumps({"error": msg}).encode())

    def gate(self, conf):
        """True when the request may go on (else the 401/403 has been sent)."""
        if not conf.get("gated"):
            return True
        auth = self.headers.get("Authorization")
        if auth == "Bearer hf_good":
            return True
        if auth:
            self.error(403, "GatedRepo", "Access to this repo is restricted")
        else:
            self.error(401, "GatedRepo", "Access to this repo is restricted: log in")
        return False

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        self.record()
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if len(parts) >= 5 and parts[0] == "api" and parts[1] == "models" and parts[4] == "tree":
            return self.tree(parts[2], parts[3])
        if len(parts) >= 5 and parts[2] == "resolve" and parts[3] == "main":
            return self.resolve(parts[0], parts[1], "/".join(parts[4:]))
        if len(parts) >= 4 and parts[0] == "storage":
            return self.storage(parts[1], parts[2], "/".join(parts[3:]))
        self.error(404, "NotFound", "no such route")

    def tree(self, org, name):
        d = repo_dir(org, name)
        if not d:
            return self.error(404, "RepoNotFound", "Repository not found")
        conf = repo_conf(org, name)
        if not self.gate(conf):
            return
        huge = conf.get("huge", {})
        items = []
        for rel in files_of(d):
            p = os.path.join(d, rel)
            size = huge.get(rel, os.path.getsize(p))
            items.append({"type": "file", "oid": hashlib.sha1(rel.encode()).hexdigest(),
                          "size": size, "path": rel,
                          "lfs": {"oid": sha256_file(p), "size": size, "pointerSize": 134}})
        self.reply(200, {"Content-Type": "application/json"}, json.dumps(items).encode())

    def resolve(self, org, name, rel):
        d = repo_dir(org, name)
        if not d:
            return self.error(404, "RepoNotFound", "Repository not found")
        conf = repo_conf(org, name)
        if not self.gate(conf):
            return
        p = os.path.join(d, rel)
        if not os.path.isfile(p):
            return self.error(404, "EntryNotFound", "Entry not found")
        sha = sha256_file(p)
        if rel in conf.get("corrupt", []):
            sha = hashlib.sha256(b"not these bytes").hexdigest()
        size = conf.get("huge", {}).get(rel, os.path.getsize(p))
        port = self.server.server_address[1]
        loc = "http://localhost:%d/storage/%s/%s/%s?sig=x" % (
            port, org, name, urllib.parse.quote(rel))
        self.reply(302, {"X-Repo-Commit": commit_of(d), "X-Linked-Etag": '"%s"' % sha,
                         "X-Linked-Size": str(size), "ETag": '"%s"' % sha, "Location": loc})

    def storage(self, org, name, rel):
        d = repo_dir(org, name)
        p = os.path.join(d, rel) if d else None
        if not p or not os.path.isfile(p):
            return self.error(404, "EntryNotFound", "Entry not found")
        conf = repo_conf(org, name)
        with open(p, "rb") as f:
            data = f.read()
        start = 0
        rng = self.headers.get("Range")
        if rng and rel not in conf.get("no_range", []):
            spec = rng.split("=", 1)[1]
            start = int(spec.split("-", 1)[0])
            if start >= len(data):
                return self.reply(416, {"Content-Range": "bytes */%d" % len(data)})
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "HEAD":
            return
        key = (org, name, rel)
        if rel in conf.get("cut", []) and key not in CUT_DONE:
            CUT_DONE.add(key)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if rel in conf.get("stall", []):
            self.wfile.write(body[:1024])
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
            return
        if rel in conf.get("trickle", []):
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i:i + 65536])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(body)


def watchdog(parent, deadline):
    while time.time() < deadline:
        if os.getppid() != parent:
            break
        time.sleep(0.2)
    os._exit(0)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=300)
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    threading.Thread(target=watchdog, args=(os.getppid(), time.time() + ARGS.lifetime),
                     daemon=True).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()

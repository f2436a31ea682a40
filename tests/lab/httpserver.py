"""The lab's image server: static files over HTTP/1.1 with Range support.

It serves a directory the way a distribution mirror does (HEAD, GET, single byte
ranges with 206/416, Last-Modified, Content-Length) and writes one JSON line per
request to an access log, so tests can prove what was (not) transferred again.

Fault injection for the download tests, by URL prefix (the rest is the file path):
  /drop-once/<n>/<file>    the first GET of that URL sends <n> body bytes, then the
                           connection is cut; later GETs (and resumes) are served whole
  /drop-always/<n>/<file>  every GET is cut after <n> body bytes
  /no-range/<file>         Range headers are ignored (always 200 with the whole file)
"""

import argparse
import email.utils
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

CHUNK = 1024 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strata-lab-http/1"
    sent = 0
    status = 0
    range_header = None

    # -- routing ------------------------------------------------------------
    def _route(self):
        """Return (file path or None, fault dict)."""
        path = unquote(urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        fault = {"drop_after": None, "drop_once": False, "no_range": False}
        if len(parts) >= 3 and parts[0] in ("drop-once", "drop-always") and parts[1].isdigit():
            fault["drop_after"] = int(parts[1])
            fault["drop_once"] = parts[0] == "drop-once"
            parts = parts[2:]
        elif len(parts) >= 2 and parts[0] == "no-range":
            fault["no_range"] = True
            parts = parts[1:]
        if any(p in (".", "..") for p in parts):
            return None, fault
        full = os.path.join(self.server.root, *parts)
        if not os.path.isfile(full):
            return None, fault
        return full, fault

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head):
        self.sent = 0
        self.range_header = self.headers.get("Range")
        full, fault = self._route()
        if full is None:
            self._simple(404, b"not found\n")
            return
        st = os.stat(full)
        size = st.st_size
        start, end = 0, size - 1
        status = 200
        if self.range_header and not fault["no_range"]:
            m = RANGE_RE.match(self.range_header.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                self._simple(416, b"bad range\n", {"Content-Range": "bytes */%d" % size})
                return
            if m.group(1) == "":  # suffix range: the last N bytes
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                if m.group(2):
                    end = min(int(m.group(2)), size - 1)
            if start >= size or start > end:
                self._simple(416, b"range not satisfiable\n", {"Content-Range": "bytes */%d" % size})
                return
            status = 206
        length = end - start + 1
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "none" if fault["no_range"] else "bytes")
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if head:
            return
        limit = length
        cut = False
        if fault["drop_after"] is not None and self._should_drop(fault):
            limit = min(length, fault["drop_after"])
            cut = limit < length
        with open(full, "rb") as f:
            f.seek(start)
            while self.sent < limit:
                buf = f.read(min(CHUNK, limit - self.sent))
                if not buf:
                    break
                self.wfile.write(buf)
                self.sent += len(buf)
        if cut:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    def _should_drop(self, fault):
        if not fault["drop_once"]:
            return True
        with self.server.lock:
            if self.path in self.server.dropped:
                return False
            self.server.dropped.add(self.path)
            return True

    def _simple(self, status, body, headers=None):
        self.status = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.sent = len(body)

    def log_request(self, code="-", size="-"):
        pass  # logged in finish(), when the bytes sent are known

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def finish(self):
        try:
            super().finish()
        finally:
            if getattr(self, "command", None):
                rec = {
                    "time": time.time(),
                    "method": self.command,
                    "path": self.path,
                    "range": self.range_header,
                    "status": self.status,
                    "bytes": self.sent,
                }
                with self.server.lock:
                    with open(self.server.access_log, "a") as log:
                        log.write(json.dumps(rec) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--root", required=True)
    ap.add_argument("--access-log", required=True)
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    srv = ThreadingHTTPServer((a.bind, a.port), Handler)
    srv.daemon_threads = True
    srv.root = os.path.abspath(a.root)
    srv.access_log = a.access_log
    srv.lock = threading.Lock()
    srv.dropped = set()
    if a.pidfile:
        with open(a.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(a.pidfile + ".tmp", a.pidfile)
    try:
        srv.serve_forever()
    finally:
        if a.pidfile and os.path.exists(a.pidfile):
            os.unlink(a.pidfile)


if __name__ == "__main__":
    main()

"""A proxy in front of the moto server that answers some requests as a throttled or failing
S3 would: ``503 SlowDown``, the answer real S3 gives a client that writes too fast.

Why a proxy: moto has no fault injection for S3's throttling, and airshift's archives
reach S3 through botocore's retries, which only a real HTTP answer exercises. Which requests fail is decided by a rule of the request's number and method, so
a test fails the same requests every run.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
# (number of the request, counted from 1; its method) -> answer it with 503 SlowDown?
Rule = Callable[[int, str], bool]


class FlakyS3:
    """Counts what it forwarded and what it refused; ``url`` is its endpoint."""

    def __init__(self, upstream: str, rule: Rule) -> None:
        self.upstream, self.rule = urlsplit(upstream), rule
        self.requests = self.refused = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _decide(self, method: str) -> bool:
        with self._lock:
            self.requests += 1
            refuse = self.rule(self.requests, method)
            self.refused += refuse
            return refuse

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _forward(self) -> None:
                body = self._body()
                if proxy._decide(self.command):
                    self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"
                }
                headers["Content-Length"] = str(len(body))
                up = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port)
                try:
                    up.request(self.command, self.path, body=body, headers=headers)
                    got = up.getresponse()
                    self._answer(got.status, got.getheaders(), got.read())
                finally:
                    up.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        return Handler


@contextlib.contextmanager
def flaky_s3(upstream: str, rule: Rule) -> Iterator[FlakyS3]:
    proxy = FlakyS3(upstream, rule)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()

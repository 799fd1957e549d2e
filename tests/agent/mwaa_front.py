"""A stand-in for an MWAA web server's front: MWAA's login endpoint before a real Airflow.

Why: an MWAA web server is the real Airflow web server (2.x) or API server (3.x) plus
MWAA's own login plugin, which trades a CreateWebLoginToken token for a session. That
plugin is not open source and moto has no MWAA, so this serves it over HTTPS (MWAA is
HTTPS-only, and so is airshift's mwaa:// login): ``POST /aws_mwaa/login`` (2.x) or
``POST /pluginsv2/aws_mwaa/login`` (3.x) with the expected token answers with the
session cookie of a real login to the Airflow behind it; every other request is passed
through to that Airflow unchanged. The token check is strict: an unknown or reused token
gets 403, as MWAA's one-minute tokens do.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the test trusts it via SSL_CERT_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "front.pem", folder / "front.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def mwaa_front(
    upstream: str, major: int, tokens: set[str], session_cookie: Callable[[], str], folder: Path
) -> Iterator[str]:
    """Serve the front on 127.0.0.1; yields its host:port (what WebServerHostname says)."""
    login_path, cookie = (
        ("/pluginsv2/aws_mwaa/login", "_token") if major >= 3 else ("/aws_mwaa/login", "session")
    )
    used: set[str] = set()

    class Front(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _pass_through(self) -> None:
            body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
            }
            req = urllib.request.Request(
                upstream + self.path, data=body, headers=headers, method=self.command
            )
            try:
                resp = urllib.request.urlopen(req, timeout=60)
            except urllib.error.HTTPError as exc:
                resp = exc
            data = resp.read()
            self.send_response(resp.status if hasattr(resp, "status") else resp.code)
            for k, v in resp.headers.items():
                if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._pass_through()

        def do_POST(self) -> None:
            if self.path != login_path:
                self._pass_through()
                return
            given = urllib.parse.parse_qs(self._body().decode()).get("token", [""])[0]
            if given not in tokens or given in used:
                self.send_response(403)
                self.end_headers()
                return
            used.add(given)
            self.send_response(302)
            self.send_header("Location", "/")
            self.send_header("Set-Cookie", f"{cookie}={session_cookie()}; Path=/; Secure; HttpOnly")
            self.send_header("Content-Length", "0")
            self.end_headers()

    cert, key = self_signed(folder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

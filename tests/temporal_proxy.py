"""A proxy in front of a Temporal dev server, to test how luactor connects.

The dev server speaks neither TLS nor checks credentials, so the proxy does
what a production front end would: it may end TLS with a certificate of a
test CA (and ask the client for one, for mTLS), and it decodes the HTTP/2
request headers every client sends, so a test can see the API key and the
namespace arrive. Bytes go on to the server unchanged.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import hpack
import trio

__all__ = ["Certificates", "Proxy"]

#: The name in the server certificate (and no IP address: connecting to
#: 127.0.0.1 verifies only when the client is told this name).
SERVER_NAME = "temporal.test"


class Certificates:
    """A test CA, a server certificate for SERVER_NAME and a client
    certificate, made with the openssl command (EC P-256, PEM)."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.ca, ca_key = self._make("ca", "luactor test CA", None,
                                     ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"])
        self.server, self.server_key = self._make("server", SERVER_NAME, ca_key,
                                                  [f"subjectAltName=DNS:{SERVER_NAME}", "extendedKeyUsage=serverAuth"])
        self.client, self.client_key = self._make("client", "luactor test client", ca_key,
                                                  ["extendedKeyUsage=clientAuth"])

    def _make(self, name: str, common_name: str, ca_key: Path | None, extensions: list[str]) -> tuple[Path, Path]:
        cert, key = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        request = ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", str(key), "-subj", f"/CN={common_name}", "-days", "3650"]
        extension_args = [argument for extension in extensions for argument in ("-addext", extension)]
        if ca_key is None:
            subprocess.run([*request, "-x509", "-out", str(cert), *extension_args], check=True, capture_output=True)
        else:
            csr = self.folder / f"{name}.csr"
            subprocess.run([*request, "-out", str(csr), *extension_args], check=True, capture_output=True)
            subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key),
                            "-CAcreateserial", "-days", "3650", "-copy_extensions", "copyall", "-out", str(cert)],
                           check=True, capture_output=True)
        return cert, key


@dataclass
class Proxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_port``; with ``certificates``,
    clients must speak TLS, and with ``client_certificates`` too, show one
    the test CA signed."""

    upstream_port: int
    certificates: Certificates | None = None
    client_certificates: bool = False
    port: int = 0
    #: every request's headers, as the server receives them
    requests: list[dict[str, str]] = field(default_factory=list)
    #: why each refused TLS handshake failed
    refused: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def serve(self, nursery: trio.Nursery) -> None:
        listeners = await nursery.start(partial(trio.serve_tcp, self._relay, 0, host="127.0.0.1"))
        self.port = listeners[0].socket.getsockname()[1]

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.server, self.certificates.server_key)
        context.set_alpn_protocols(["h2"])  # gRPC's HTTP/2
        if self.client_certificates:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.certificates.ca)
        return context

    async def _relay(self, client: trio.SocketStream) -> None:
        stream: trio.abc.Stream = client
        if self.certificates is not None:
            stream = trio.SSLStream(client, self._context(), server_side=True)
            try:
                await stream.do_handshake()
            except trio.BrokenResourceError as error:
                self.refused.append(str(error.__cause__ or error))
                await client.aclose()
                return
        headers = _RequestHeaders(self.requests)
        async with stream, await trio.open_tcp_stream("127.0.0.1", self.upstream_port) as server, \
                trio.open_nursery() as nursery:
            async def pump(source: trio.abc.Stream, sink: trio.abc.Stream, read=None) -> None:
                try:
                    async for data in source:
                        if read:
                            read(data)
                        await sink.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(pump, stream, server, headers.feed)
            nursery.start_soon(pump, server, stream)


class _RequestHeaders:
    """Reads the HTTP/2 frames a client sends and decodes each header block."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    HEADERS, CONTINUATION = 0x1, 0x9
    END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20

    def __init__(self, requests: list[dict[str, str]]):
        self.requests = requests
        self.buffer = b""
        self.preface_left = len(self.PREFACE)
        self.block = b""
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 1 << 20

    def feed(self, data: bytes) -> None:
        self.buffer += data
        skipped = min(self.preface_left, len(self.buffer))
        self.buffer, self.preface_left = self.buffer[skipped:], self.preface_left - skipped
        while len(self.buffer) >= 9 and len(self.buffer) >= 9 + int.from_bytes(self.buffer[:3], "big"):
            length, kind, flags = int.from_bytes(self.buffer[:3], "big"), self.buffer[3], self.buffer[4]
            payload, self.buffer = self.buffer[9:9 + length], self.buffer[9 + length:]
            if kind == self.HEADERS:
                if flags & self.PADDED:
                    payload = payload[1:len(payload) - payload[0]]
                if flags & self.PRIORITY:
                    payload = payload[5:]
                self.block = payload
            elif kind == self.CONTINUATION:
                self.block += payload
            else:
                continue
            if flags & self.END_HEADERS:
                self.requests.append(dict(self.decoder.decode(self.block)))

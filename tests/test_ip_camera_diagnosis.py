"""Why an IP camera cannot be opened, asked of the server itself (video_classifier.sources.ip_camera.diagnose):
over TLS as FFmpeg asks, so that a camera's self-signed certificate (the usual case) does not hide a
wrong password, and a camera without TLS is named as such; within its time whatever the server
does, and without keeping what it sends."""

import contextlib
import socket
import ssl
import subprocess
import threading
import time

import pytest
from conftest import require_program

from video_classifier.sources.ip_camera import diagnose


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate and its key, as a camera has."""
    openssl = require_program("openssl", "openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2"]
        + ["-subj", "/CN=ipcam.local"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@contextlib.contextmanager
def camera(status_line: str, certificate=None):
    """A camera on 127.0.0.1 that answers every request with ``status_line`` and a Basic challenge
    (over TLS with ``certificate``); yields its port."""
    context = None
    if certificate:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
    server = socket.create_server(("127.0.0.1", 0))

    def serve(client):
        with contextlib.suppress(OSError):
            if context:
                client = context.wrap_socket(client, server_side=True)
            request = b""
            while True:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
                if not request[:1].isalpha():  # a TLS hello to a camera without TLS: it hangs up
                    client.close()
                    return
                while b"\r\n\r\n" in request:
                    head, request = request.split(b"\r\n\r\n", 1)
                    cseq = [line for line in head.split(b"\r\n") if line.lower().startswith(b"cseq")]
                    client.sendall(
                        f"{status_line}\r\n".encode()
                        + b"".join(line + b"\r\n" for line in cseq)
                        + b'WWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n'
                    )

    def accept():
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("scheme, status_line", [("rtsps", "RTSP/1.0 401 Unauthorized"), ("https", "HTTP/1.0 401 Unauthorized")])
def test_a_wrong_password_is_named_behind_a_self_signed_certificate(certificate, scheme, status_line):
    with camera(status_line, certificate) as port:
        assert "refused the user name or password" in diagnose(f"{scheme}://alice:wrong@127.0.0.1:{port}/cam", 5)
        missing = diagnose(f"{scheme}://127.0.0.1:{port}/cam", 5)
        assert "asks for a user name and password" in missing and f"({scheme}://USER:PASSWORD@HOST/PATH)" in missing


@pytest.mark.parametrize("scheme, status_line", [("rtsps", "RTSP/1.0 200 OK"), ("https", "HTTP/1.0 200 OK")])
def test_a_tls_url_for_a_camera_without_tls_says_so(scheme, status_line):
    with camera(status_line) as port:
        why = diagnose(f"{scheme}://alice:pw@127.0.0.1:{port}/cam", 5)
    plain = scheme.removesuffix("s")
    assert f"port {port} of 127.0.0.1 answers, but no TLS connection could be made" in why
    assert f"write {plain}://" in why


def hostile(reply: bytes, pause_s: float, repeat: int):
    """A server that answers any request with ``reply``, then that again ``repeat`` times, one
    every ``pause_s``; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(client):
        with contextlib.suppress(OSError), client:
            client.recv(4096)
            for _ in range(repeat):
                client.sendall(reply)
                time.sleep(pause_s)

    def accept():
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server


def test_a_server_that_sends_a_byte_now_and_then_is_given_up_on_in_time():
    with hostile(b"R", 0.2, 1000) as server:  # each read gets something: no single read times out
        started = time.monotonic()
        why = diagnose(f"rtsp://127.0.0.1:{server.getsockname()[1]}/cam", 2)
    assert "accepts a connection but gives no answer" in why
    assert time.monotonic() - started < 5


def test_a_body_too_long_for_an_rtsp_answer_is_not_read():
    head = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 1000000000000\r\n\r\n"
    with hostile(head + b"\0" * 65536, 0.0, 200) as server:
        why = diagnose(f"rtsp://127.0.0.1:{server.getsockname()[1]}/cam", 5)
    assert "answers, but not as an RTSP camera" in why


@contextlib.contextmanager
def digest_camera(password: str, seen: list):
    """An RTSP camera that offers Digest (with qop=auth) and Basic, checks a Digest answer
    against ``password``, and notes each Authorization header it gets in ``seen``."""
    import hashlib
    import re

    def md5(text):
        return hashlib.md5(text.encode()).hexdigest()

    server = socket.create_server(("127.0.0.1", 0))

    def answer(head: str) -> str:
        lines = head.split("\r\n")
        cseq = next(line for line in lines if line.lower().startswith("cseq"))
        auth = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("authorization")), None)
        seen.append(auth)
        if auth and auth.startswith("Digest"):
            f = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
            ha1, ha2 = md5(f"{f['username']}:cam:{password}"), md5(f"DESCRIBE:{f['uri']}")
            if f.get("response") == md5(f"{ha1}:n0nce:{f.get('nc')}:{f.get('cnonce')}:auth:{ha2}"):
                return f"RTSP/1.0 200 OK\r\n{cseq}\r\nContent-Length: 0\r\n\r\n"
        return (
            f"RTSP/1.0 401 Unauthorized\r\n{cseq}\r\n"
            'WWW-Authenticate: Digest realm="cam", nonce="n0nce", qop="auth,auth-int"\r\n'
            'WWW-Authenticate: Basic realm="cam"\r\nContent-Length: 0\r\n\r\n'
        )

    def serve(client):
        with contextlib.suppress(OSError), client:
            request = b""
            while chunk := client.recv(4096):
                request += chunk
                while b"\r\n\r\n" in request:
                    head, request = request.split(b"\r\n\r\n", 1)
                    client.sendall(answer(head.decode()).encode())

    def accept():
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    with server:
        yield server.getsockname()[1]


def test_digest_is_answered_when_offered_and_the_password_never_sent_as_basic():
    seen = []
    with digest_camera("s3cret", seen) as port:
        right = diagnose(f"rtsp://alice:s3cret@127.0.0.1:{port}/cam", 5)
        wrong = diagnose(f"rtsp://alice:wrong@127.0.0.1:{port}/cam", 5)
    assert "refused" not in right and "stream cannot be decoded" in right  # the login was taken
    assert "refused the user name or password" in wrong
    assert [auth.split()[0] for auth in seen if auth] == ["Digest", "Digest"]

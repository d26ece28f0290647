"""IP cameras: an ``rtsp://`` or ``http(s)://`` stream (MJPEG, HLS) through OpenCV's FFmpeg.

A reader thread decodes the stream as fast as it arrives and keeps only the newest frame, so
FFmpeg's buffer never grows: the model always gets a picture that is a fraction of a second old,
however long it takes per frame. Frames are timestamped by their arrival, like a USB camera's.
When the stream stops, :meth:`NetworkCameraSource.read` raises :class:`SourceError` and the app's
:class:`~video_classifier.sources.reconnect.ReconnectingSource` opens it again. When it cannot be opened,
:func:`diagnose` asks the server itself why (refused, no answer, wrong password, no such path),
since OpenCV only says that it failed. The URL's user, password and query are never shown.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import secrets
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import warnings
from urllib.parse import unquote

import cv2

from utils.signals import join_thread
from video_classifier.data import Frame
from video_classifier.errors import SourceError
from video_classifier.sources.base import FrameSource
from video_classifier.sources.camera_url import host_and_port, parts, path_names, redacted

# urllib warns on stderr of a camera's unquoted realm (Basic realm=cam): the camera's fault, not the user's.
warnings.filterwarnings("ignore", "Basic Auth Realm was unquoted", UserWarning)

OPEN_TIMEOUT_S = 10.0  # a dead host is reported after this long, never hangs the app
READ_TIMEOUT_S = 5.0  # no frame for this long: the stream is lost (and reconnected)
# Pictures in a row the decoder may refuse before the stream counts as stopped: a camera's
# glitch (one damaged JPEG in an MJPEG stream) is passed over, while a stream that has ended
# fails every read at once.
BAD_PICTURES_IN_A_ROW = 3


class NetworkCameraSource(FrameSource):
    """An IP camera's stream; ``transport`` (``tcp`` or ``udp``) applies to ``rtsp://``."""

    live = True

    def __init__(
        self,
        url: str,
        transport: str = "tcp",
        open_timeout_s: float = OPEN_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.name = redacted(url)
        scheme, sep, rest = url.strip().partition("://")
        url = f"{scheme.lower()}{sep}{rest}"  # FFmpeg knows rtsp://, not RTSP:// (as some manuals write it)
        self.read_timeout_s = read_timeout_s
        if parts(url).scheme.startswith("rtsp"):
            # Read by OpenCV at every open. UDP loses packets on Wi-Fi (grey smears over the
            # picture), so TCP unless asked; OpenCV's wheels ask for TCP whenever the variable is
            # set at all, so UDP (FFmpeg's own default) is its absence.
            if transport == "tcp":
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
            else:
                os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000)]
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
        started = time.monotonic()
        capture, ok, image = _open(url, params, read_timeout_s)
        if not ok or image is None:
            capture.release()
            waited_s = time.monotonic() - started
            left = max(1.0, open_timeout_s - waited_s)
            # FFmpeg's open ran into its time-out: it waited for data, rather than giving up on what it
            # got (damaged pictures fail sooner, within its 5 s of probing).
            silent = waited_s >= 0.95 * open_timeout_s
            raise SourceError(f"{self.name}: {diagnose(url, left, waited_s=waited_s, silent=silent)}")
        self._capture = capture
        self._start = time.monotonic()
        self._newest: tuple[object, float] | None = (image, self._start)
        self._index = 0
        self._failed: str | None = None
        self._stopping = threading.Event()
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read_stream, name="ip-camera", daemon=True)
        self._reader.start()

    def _read_stream(self) -> None:
        """Decode every frame as it comes; keep the newest (the reader owns the capture)."""
        bad = 0
        try:
            while not self._stopping.is_set():
                ok, image = self._capture.read()
                if not ok or image is None:
                    bad += 1
                    if bad >= BAD_PICTURES_IN_A_ROW:
                        self._finish("the stream stopped")
                        return
                    continue
                bad = 0
                with self._arrived:
                    self._newest = (image, time.monotonic())
                    self._arrived.notify_all()
        except cv2.error as exc:  # a broken stream can make the decoder throw
            self._finish(f"the stream could not be decoded ({exc.err})")
        finally:
            self._capture.release()

    def _finish(self, why: str) -> None:
        with self._arrived:
            self._failed = why
            self._arrived.notify_all()

    def read(self) -> Frame | None:
        """The newest frame not given out yet (waiting for it); raises :class:`SourceError`
        when the stream has stopped or no frame came for ``read_timeout_s``."""
        with self._arrived:
            self._arrived.wait_for(
                lambda: self._newest is not None or self._failed or self._stopping.is_set(), self.read_timeout_s
            )
            if self._stopping.is_set():
                return None
            if self._newest is None:
                raise SourceError(f"{self.name}: {self._failed or f'no picture for {self.read_timeout_s:g} s'}")
            (image, arrived), self._newest = self._newest, None
        frame = Frame(image, arrived - self._start, self._index)
        self._index += 1
        return frame

    def interrupt(self) -> None:
        self._stopping.set()
        with self._arrived:
            self._arrived.notify_all()

    def close(self) -> None:
        self.interrupt()
        # The reader leaves at its next frame and releases the capture; from a frozen stream only
        # after FFmpeg's read time-outs, which neither a reconnect nor the exit waits for.
        self._reader.join(1.0)


def _open(url: str, params: list[int], read_timeout_s: float) -> tuple[cv2.VideoCapture, bool, object]:
    """The capture and its first frame. FFmpeg's open runs in a thread of its own, so that Ctrl-C
    or SIGTERM stop the app at once rather than after the open time-out (a silent camera); the
    thread, left behind then, ends with the process."""
    opened: list = []

    def open_stream() -> None:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        try:
            opened.append((capture, *(_first_picture(capture, read_timeout_s) if capture.isOpened() else (False, None))))
        except cv2.error:  # a first frame the decoder throws on: the diagnosis says what is wrong
            opened.append((capture, False, None))

    opener = threading.Thread(target=open_stream, name="ip-camera-open", daemon=True)
    opener.start()
    join_thread(opener)  # a stop signal is handled meanwhile; FFmpeg's own time-outs bound it
    return opened[0]


def _first_picture(capture: cv2.VideoCapture, read_timeout_s: float) -> tuple[bool, object]:
    """The stream's first picture, passing over damaged ones as the reader does (a glitch as the
    camera is opened is no dead camera). A read that failed only after waiting for the time-out
    is not tried again: the stream is silent, not damaged."""
    for _ in range(BAD_PICTURES_IN_A_ROW):
        began = time.monotonic()
        ok, image = capture.read()
        if ok and image is not None:
            return True, image
        if time.monotonic() - began >= read_timeout_s / 2:
            break
    return False, None


def diagnose(url: str, timeout_s: float, waited_s: float = 0.0, silent: bool = False) -> str:
    """Why ``url`` cannot be opened, in words a user can act on (asked of the server itself).
    ``waited_s``: how long FFmpeg already tried, counted in a time-out's message; ``silent``: it
    timed out waiting for the stream (an HTTP camera that answers is then one that sends no
    pictures; over RTSP the wait may be for any step of the session, so it is not said)."""
    started = time.monotonic()

    def waited() -> str:
        return f"{waited_s + time.monotonic() - started:.0f} s"

    split = parts(url)
    host, port = host_and_port(url)
    if not host:
        return "the URL has no host: write it as rtsp://HOST[:PORT]/PATH"
    try:
        connection = socket.create_connection((host, port), timeout=timeout_s)
    except (socket.gaierror, UnicodeError):  # UnicodeError: a name that is no host name (a label over 63)
        return f"unknown host {host}: check the camera's address"
    except ConnectionRefusedError:
        return f"nothing answers on port {port} of {host}: check the port, and that the camera's stream is on"
    except OSError:
        return f"{host} does not answer (port {port}, {waited()}): check that the camera is on and reachable"
    with connection:
        ask = _rtsp_status if split.scheme.startswith("rtsp") else _http_status
        try:
            status, content_type = _within(timeout_s, ask, connection, url, timeout_s)
        except (ValueError, OverflowError, http.client.HTTPException):  # not RTSP or HTTP: no status line, endless headers...
            kind = "an RTSP" if split.scheme.startswith("rtsp") else "an HTTP"
            return f"port {port} of {host} answers, but not as {kind} camera: check the port and the scheme"
        except TimeoutError:
            return f"port {port} of {host} accepts a connection but gives no answer ({waited()}): is it the camera's port?"
        except ssl.SSLError:
            plain = split.scheme.removesuffix("s")
            return (
                f"port {port} of {host} answers, but no TLS connection could be made with it ({split.scheme}://): "
                f"for a camera without TLS write {plain}://"
            )
        except OSError:
            status, content_type = None, ""
    if status == 401:
        if split.username is None:
            return f"the camera asks for a user name and password: put them in the URL ({split.scheme}://USER:PASSWORD@HOST/PATH)"
        return "the camera refused the user name or password: check them (special characters as %XX in the URL)"
    if status == 404:
        return f"the camera has no stream at {path_names(split.path) or '/'}: check the path in its manual or web page"
    if status is not None and status >= 400:
        return f"the camera answered {status}: check the URL"
    if content_type.startswith("text/html"):
        return "the address is a web page, not a video stream: find the stream's URL in the camera's manual or settings"
    if silent and not split.scheme.startswith("rtsp"):
        return (
            f"the camera answers but sent no picture in {waited_s:.0f} s: check that its stream is on, "
            "or try another of its streams"
        )
    return "the camera answers but its stream cannot be decoded: check the URL, or try another of its streams"


def _within(timeout_s: float, ask, *args):
    """``ask(*args)``, given up after ``timeout_s`` in all with a :class:`TimeoutError`: a server
    that sends a byte now and then never lets a single read time out."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["status"] = ask(*args)
        except Exception as exc:  # raised again in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="ip-camera-diagnosis", daemon=True)
    thread.start()
    if not join_thread(thread, timeout_s):
        raise TimeoutError(f"no answer in {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["status"]


def _rtsp_status(connection: socket.socket, url: str, timeout_s: float) -> tuple[int | None, str]:
    """The status of an RTSP DESCRIBE of ``url``, with the URL's login (Basic or Digest), and no
    content type (the description's own is no stream's)."""
    split = parts(url)
    if split.scheme == "rtsps":
        connection = _tls().wrap_socket(connection, server_hostname=split.hostname)
    bare = split._replace(netloc=split.netloc.rpartition("@")[2]).geturl()
    connection.settimeout(timeout_s)
    status, headers = _rtsp_request(connection, bare, 1, None)
    challenges = headers.get("www-authenticate", [])
    # Digest when offered, as FFmpeg does: Basic sends the password itself over the network.
    challenge = next((c for c in challenges if c.lower().startswith("digest")), challenges[0] if challenges else "")
    if status == 401 and split.username is not None:
        user, password = unquote(split.username), unquote(split.password or "")
        status, _ = _rtsp_request(connection, bare, 2, _authorization(challenge, user, password, bare))
    return status, ""


def _tls() -> ssl.SSLContext:
    """TLS as FFmpeg speaks it to a camera: encrypted, the certificate not checked (a camera's is
    almost always self-signed), so that the answer is the one FFmpeg had."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _rtsp_request(connection: socket.socket, url: str, cseq: int, authorization: str | None) -> tuple[int, dict]:
    lines = [f"DESCRIBE {url} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    reply = b""
    while b"\r\n\r\n" not in reply and len(reply) < 65536:
        chunk = connection.recv(4096)
        if not chunk:
            break
        reply += chunk
    head = reply.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    match = re.match(r"RTSP/\d\.\d (\d{3})", head[0])
    if not match:
        raise ValueError("not an RTSP answer")
    headers: dict = {"www-authenticate": []}  # a camera may offer several (Digest and Basic)
    for line in head[1:]:
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "www-authenticate":
            headers[key].append(value.strip())
        else:
            headers[key] = value.strip()
    length = int(headers.get("content-length", "0") or 0)  # read the body: the connection is reused
    if length > 65536:  # an answer to DESCRIBE is a short SDP text, not a stream to keep in memory
        raise ValueError(f"a body of {length} bytes")
    body = reply.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in reply else b""
    while len(body) < length:
        chunk = connection.recv(4096)
        if not chunk:
            break
        body += chunk
    return int(match.group(1)), headers


def _authorization(challenge: str, user: str, password: str, url: str) -> str:
    """The Authorization header answering ``challenge`` (RTSP cameras use Basic or Digest)."""
    if challenge.lower().startswith("digest"):
        fields = {key.lower(): quoted or bare for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', challenge)}
        realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"DESCRIBE:{url}".encode()).hexdigest()
        header = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{url}"'
        if "auth" in [qop.strip() for qop in fields.get("qop", "").split(",")]:  # RFC 2617's qop=auth
            cnonce = secrets.token_hex(8)
            response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
            header += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
        else:
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        header += f', response="{response}"'
        if "opaque" in fields:
            header += f', opaque="{fields["opaque"]}"'
        return header
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _http_status(connection: socket.socket, url: str, timeout_s: float) -> tuple[int | None, str]:
    """The HTTP status of ``url`` with its login (Basic or Digest) and its content type (lower
    case), reading only the headers (urllib makes its own ``connection``: the first one only
    showed that the host answers)."""
    split = parts(url)
    bare = split._replace(netloc=split.netloc.rpartition("@")[2]).geturl()
    handlers = []
    if split.username is not None:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        user, password = unquote(split.username), unquote(split.password or "")
        passwords.add_password(None, bare, user, password)
        handlers = [urllib.request.HTTPBasicAuthHandler(passwords), urllib.request.HTTPDigestAuthHandler(passwords)]
    handlers.append(urllib.request.HTTPSHandler(context=_tls()))
    try:
        with urllib.request.build_opener(*handlers).open(bare, timeout=timeout_s) as response:
            return response.status, response.headers.get("Content-Type", "").lower()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (ssl.SSLError, TimeoutError)):
            raise exc.reason from None
        raise


def open_spec(spec: str, options) -> NetworkCameraSource:
    """A ``--camera`` URL: the IP camera behind it."""
    return NetworkCameraSource(spec, options.rtsp_transport)

"""What a ``--camera`` string names, and how to show an IP camera's URL without its secrets.

Kept free of OpenCV so that the command line can check a ``--camera`` value before anything
heavy is imported.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def is_network(spec: str) -> bool:
    """Whether ``spec`` is an IP camera's URL (``rtsp://``, ``rtsps://``, ``http(s)://``)."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in NETWORK_SCHEMES


def is_camera(spec: str) -> bool:
    """Whether ``spec`` names a live camera (Pi camera, USB index or IP camera), not a file."""
    return spec == "picamera2" or spec.isdigit() or is_network(spec)


def parts(url: str) -> SplitResult:
    """The URL split into its parts (the scheme lower-cased)."""
    split = urlsplit(url.strip())
    return split._replace(scheme=split.scheme.lower())


def redacted(url: str) -> str:
    """``url`` as it may be shown anywhere: no user, password or query (a query often holds a
    token), e.g. ``rtsp://192.168.1.20:554/stream1``. A login whose ``/``, ``?`` or ``#`` were not
    written as %XX ends the host early (``rtsp://bob:12/34@cam/x``): all up to the last ``@`` is
    left out then too, so that no piece of it is shown as a host or a path."""
    try:
        split = _after_login(url)
    except ValueError:  # e.g. an IPv6 address without its closing bracket
        return f"{url.strip().partition('://')[0].lower()}://?"
    host = _bracketed(split.hostname) or "?"
    port = f":{split.port}" if _port(split) else ""
    query = "?..." if split.query else ""
    path = _LOGIN_IN_PATH.sub(r"\1=...", split.path)
    return f"{split.scheme}://{host}{port}{path}{query}"


# Some cameras take their login in the path, e.g. /user=admin&password=PW&channel=1&stream=0.sdp
_LOGIN_IN_PATH = re.compile(r"(?i)\b(user|username|usr|login|pass|passwd|password|pwd|token|auth|key)=[^&;/]*")


def identity(url: str) -> str:
    """The camera ``url`` names, to tell two ways of writing one camera apart from two cameras: no
    login, the scheme and host lower-cased, the default port written (``rtsp://cam/x`` and
    ``rtsp://user:pw@CAM:554/x`` are one camera). It keeps the query: show it only as :func:`redacted`."""
    try:
        split = _after_login(url)
    except ValueError:
        return url.strip()
    host = _bracketed(split.hostname)
    port = _port(split) or DEFAULT_PORTS.get(split.scheme, 554)
    query = f"?{split.query}" if split.query else ""
    return f"{split.scheme}://{host}:{port}{split.path or '/'}{query}"


def _after_login(url: str) -> SplitResult:
    """``url`` split with all up to its last ``@`` left out (raises ValueError if it cannot be)."""
    scheme, _, rest = url.strip().partition("://")
    return parts(f"{scheme}://{rest.rpartition('@')[2]}")


def _bracketed(host: str | None) -> str:
    """A host as written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if host and ":" in host else host or ""


def problem(url: str) -> str | None:
    """What makes an IP camera's URL unusable as written, in words that quote none of it (it may
    hold a password), or None. FFmpeg and the app read the host after the *last* ``@`` before the
    first ``/``, ``?`` or ``#``: a password holding one of those sends them to the wrong host."""
    scheme, _, rest = url.strip().partition("://")
    authority_end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    if "@" in rest[authority_end:]:
        return (
            "an @ comes after the host: write a /, ?, # or @ in the user name or password as %2F, %3F, %23 or %40 "
            "(an @ in the path or query as %40)"
        )
    try:
        split = parts(url)
    except ValueError:
        return "the host is not a valid address: an IPv6 address is written in brackets, e.g. rtsp://[fe80::1]:554/stream1"
    if not split.hostname:
        return f"the URL has no host: write it as {split.scheme}://HOST[:PORT]/PATH"
    port_text = split.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
    if port_text and not _port(split):  # none, or 0
        return f"the port after the host is not a number from 1 to 65535: write it as {split.scheme}://HOST:PORT/PATH"
    return None


def unknown_scheme(spec: str) -> str | None:
    """The scheme of ``spec`` when it is written as a URL (``rtmp://...``, ``rtsp:/...``) that is not
    an IP camera's, else None."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):/", spec)
    return match.group(1) if match and not is_network(spec) else None


def _port(split: SplitResult) -> int | None:
    try:
        return split.port
    except ValueError:  # a port that is not a number: FFmpeg will say so, we only show the URL
        return None


def has_login(url: str) -> bool:
    """Whether ``url`` holds a password or token: a login before the host, a query, or a login
    written in the path."""
    split = parts(url.strip())
    return bool(split.password or split.query or "@" in split.netloc or _LOGIN_IN_PATH.search(split.path))


def host_and_port(url: str) -> tuple[str, int]:
    """The host and port to connect to (the scheme's default port when none is given)."""
    split = parts(url)
    return split.hostname or "", _port(split) or DEFAULT_PORTS.get(split.scheme, 554)

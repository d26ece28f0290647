"""What a ``--camera`` string names, and how to show an IP camera's URL without its secrets.

Kept free of OpenCV so that the command line can check a ``--camera`` value before anything
heavy is imported.
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

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
    token), e.g. ``rtsp://192.168.1.20:554/stream1``."""
    split = parts(url)
    host = split.hostname or "?"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = f":{split.port}" if _port(split) else ""
    query = "?..." if split.query else ""
    return f"{split.scheme}://{host}{port}{split.path}{query}"


def _port(split: SplitResult) -> int | None:
    try:
        return split.port
    except ValueError:  # a port that is not a number: FFmpeg will say so, we only show the URL
        return None


def secrets_in(url: str) -> list[str]:
    """The parts of ``url`` that must never be shown: the password (as written and decoded),
    the user name and the query."""
    split = parts(url)
    found = [split.password, unquote(split.password or ""), split.username, split.query]
    return [s for s in found if s and len(s) >= 3]


def scrub(text: str, url: str) -> str:
    """``text`` with every secret of ``url`` replaced by ``***`` (for messages from libraries)."""
    for secret in sorted(secrets_in(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def host_and_port(url: str) -> tuple[str, int]:
    """The host and port to connect to (the scheme's default port when none is given)."""
    split = parts(url)
    return split.hostname or "", _port(split) or DEFAULT_PORTS.get(split.scheme, 554)

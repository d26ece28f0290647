"""What a ``--camera`` string names, and how to show an IP camera's URL without its secrets.

Kept free of OpenCV so that the command line can check a ``--camera`` value before anything
heavy is imported.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from video_classifier.errors import cut

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}


def is_network(spec: str) -> bool:
    """Whether ``spec`` is an IP camera's URL (``rtsp://``, ``rtsps://``, ``http(s)://``)."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in NETWORK_SCHEMES


def is_camera(spec: str) -> bool:
    """Whether ``spec`` names a live camera (Pi camera, USB index or IP camera), not a file."""
    return spec == "picamera2" or spec.isdecimal() or is_network(spec)


def parts(url: str) -> SplitResult:
    """The URL split into its parts (the scheme lower-cased)."""
    split = urlsplit(url.strip())
    return split._replace(scheme=split.scheme.lower())


def redacted(url: str) -> str:
    """``url`` as it may be shown anywhere: scheme, host, port and the path's names only, e.g.
    ``rtsp://192.168.1.20:554/stream1`` (a path of thousands of characters cut short). No user or
    password, and no value of a query, a fragment, a path parameter (``;key=value``) or a
    ``key=value`` in the path, whatever its key: cameras take tokens and logins under any name
    there (``/live;apikey=...``, ``/user=admin&password=...``).
    A login whose ``/``, ``?`` or ``#`` were not written as %XX ends the host early
    (``rtsp://bob:12/34@cam/x``): all up to the last ``@`` is left out then too, so that no piece
    of it is shown as a host or a path."""
    try:
        split = _after_login(url)
    except ValueError:  # e.g. an IPv6 address without its closing bracket
        return f"{url.strip().partition('://')[0].lower()}://?"
    host = cut(_bracketed(split.hostname)) or "?"
    port = f":{split.port}" if _port(split) else ""
    query = "?..." if split.query else ""
    fragment = "#..." if split.fragment else ""
    return f"{split.scheme}://{host}{port}{cut(path_names(split.path))}{query}{fragment}"


# A path parameter (";" up to the next "/"), and a value after "=" (up to "&", ";" or "/"), also
# written as %XX: what a path may hold besides names.
_PATH_PARAMETER = re.compile(r"(?i)(;|%3B)[^/]*")
_PATH_VALUE = re.compile(r"(?i)(=|%3D)[^/&;]*")


def path_names(path: str) -> str:
    """``path`` with every path parameter and every ``=`` value left out: ``/live;...``,
    ``/user=...&password=...``."""
    return _PATH_VALUE.sub("=...", _PATH_PARAMETER.sub(";...", path))


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


def without_login(spec: str) -> str:
    """An IP camera's URL with its user and password left out (all up to its last ``@``, as
    :func:`redacted` reads it); any other ``--camera`` value as given."""
    if not is_network(spec):
        return spec
    scheme, sep, rest = spec.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


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
    """Whether ``url`` may hold a password or token: a login before the host, a query, a
    fragment, or anything :func:`redacted` hides in the path."""
    split = parts(url.strip())
    hidden = path_names(split.path) != split.path
    return bool(split.password or split.query or split.fragment or "@" in split.netloc or hidden)


def host_and_port(url: str) -> tuple[str, int]:
    """The host and port to connect to (the scheme's default port when none is given)."""
    split = parts(url)
    return split.hostname or "", _port(split) or DEFAULT_PORTS.get(split.scheme, 554)

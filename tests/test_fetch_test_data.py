"""tests/fetch_test_data.py against a mirror served by a real HTTP server on loopback."""

import http.server
import shutil
import subprocess
import sys
import threading

import pytest
from conftest import MEDIA, MODELS, ROOT, app_env, require

from utils.checksum import sha256_of

SCRIPT = ROOT / "tests" / "fetch_test_data.py"
sys.path.insert(0, str(SCRIPT.parent))
from fetch_test_data import read_manifest  # noqa: E402

FILES = read_manifest()


def original(path: str):
    """The real file behind a manifest path (media/... or models/...)."""
    folder, _, rest = path.partition("/")
    return require((MEDIA if folder == "media" else MODELS) / rest)


@pytest.fixture
def mirror(tmp_path):
    """A mirror folder (media/, models/) with copies of the real files."""
    root = tmp_path / "mirror"
    for item in FILES:
        (root / item.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(original(item.path), root / item.path)
    return root


@pytest.fixture
def served(mirror):
    """The mirror over HTTP on 127.0.0.1: (folder, address)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(mirror), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield mirror, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120, env=app_env()
    )


def test_every_pinned_file_comes_from_the_mirror_verified(served, tmp_path):
    _, url = served
    dest = tmp_path / "clone"
    first = fetch("--url", url, "--dest", dest)
    assert first.returncode == 0, first.stderr
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["fetched"] * len(FILES)
    for item in FILES:
        assert sha256_of(dest / item.path) == item.sha256 == sha256_of(original(item.path))
    again = fetch("--url", url, "--dest", dest)
    assert again.returncode == 0 and all("already present" in line for line in again.stdout.splitlines())


def test_a_file_with_the_wrong_checksum_is_refused_and_not_written(served, tmp_path):
    mirror, url = served
    (mirror / "media" / "carving_ice.mp4").write_bytes(original("models/kinetics600_label_map.txt").read_bytes())
    dest = tmp_path / "clone"
    result = fetch("--url", url, "--dest", dest)
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith("error: media/carving_ice.mp4 has sha256 ") and "expected 572fae2d" in errors[0]
    assert errors[1] == "error: 1 file(s) missing: run again, or copy them from a mirror with --from DIR"
    assert not (dest / "media" / "carving_ice.mp4").exists() and not list((dest / "media").glob(".carving*"))
    assert (dest / "media" / "carving_ice_rpi.mp4").is_file()  # the others were fetched


def test_a_mirror_folder_is_copied_offline(mirror, tmp_path):
    dest = tmp_path / "clone"
    result = fetch("--from", mirror, "--dest", dest)
    assert result.returncode == 0, result.stderr
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == sorted(i.path for i in FILES)


def test_the_media_folder_given_for_the_mirror_is_one_line_naming_the_mirror(mirror, tmp_path):
    """``--from ../shared/media`` (the mirror's media folder, not the mirror) printed a line per
    file and advised to use --from, which was given; now one line says which folder to give."""
    dest = tmp_path / "clone"
    result = fetch("--from", mirror / "media", "--dest", dest)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --from {mirror / 'media'}: no media/ or models/ in it: give the mirror folder holding both; {mirror} may be it"
    ]
    assert not dest.exists() or not any(dest.rglob("*.mp4"))

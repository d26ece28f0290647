"""The model download code against a real HTTP server on loopback."""

import http.server
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, app_env, model_path

from install.fetch_models import MANIFEST, FetchError, fetch, fetch_one, sha256_of


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1, holding copies of the real model files."""
    root = tmp_path / "served"
    root.mkdir()
    for name in ("movinet_a0_stream_int8.tflite", "kinetics600_label_map.txt"):
        shutil.copy(model_path(name), root / name)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_good_download_lands_verified(served, tmp_path):
    _, url = served
    dest = tmp_path / "models"
    reports = fetch(dest, base_url=url)
    assert [r.split()[0] for r in reports] == ["fetched", "fetched"]
    for item in MANIFEST[:2]:
        assert sha256_of(dest / item.name) == item.sha256
    assert sorted(p.name for p in dest.iterdir()) == ["kinetics600_label_map.txt", "movinet_a0_stream_int8.tflite"]
    # Running again keeps the verified files.
    assert all("already present" in r for r in fetch(dest, base_url=url))


def test_a_wrong_checksum_is_rejected_and_leaves_nothing(served, tmp_path):
    root, url = served
    (root / "movinet_a0_stream_int8.tflite").write_bytes(b"TFL3 but tampered" * 1000)
    dest = tmp_path / "models"
    with pytest.raises(FetchError, match="expected 6125b36e"):
        fetch_one(MANIFEST[0], dest, base_url=url)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_an_unreachable_server_gives_a_clear_message(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "install.fetch_models", "--dest", str(tmp_path / "m"), "--timeout", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=app_env(MOVINET_MODELS_URL=f"http://127.0.0.1:{port}"),
    )
    assert result.returncode == 1
    assert f"error: cannot reach http://127.0.0.1:{port}/movinet_a0_stream_int8.tflite" in result.stderr
    assert "Offline, copy them from a folder: ./setup.sh --models-from DIR" in result.stderr  # what to do, said here
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m" / "movinet_a0_stream_int8.tflite").exists()


def test_a_missing_file_on_the_server_is_reported(served, tmp_path):
    root, url = served
    (root / "kinetics600_label_map.txt").unlink()
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_one(MANIFEST[1], tmp_path, base_url=url)


def test_models_are_copied_from_a_folder_with_checksums(tmp_path):
    """What ./setup.sh --models-from DIR runs."""
    source = model_path("movinet_a0_stream_int8.tflite").parent
    dest = tmp_path / "models"
    result = subprocess.run(
        [sys.executable, "-m", "install.fetch_models", "--dest", str(dest), "--from", str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert sha256_of(dest / "movinet_a0_stream_int8.tflite") == MANIFEST[0].sha256
    assert f"copied   movinet_a0_stream_int8.tflite sha256 {MANIFEST[0].sha256}" in result.stdout  # it said "fetched"


A1 = next(m for m in MANIFEST if m.name == "movinet_a1_stream_int8.tflite")  # no published checksum


@pytest.mark.parametrize(
    "body",
    [b"<!DOCTYPE html><html><body>Sign in to continue</body></html>\n" * 20, b"PK\x03\x04 an unexpected zip" * 100],
    ids=["an HTML page", "an archive"],
)
def test_a_download_that_is_not_a_model_is_refused_and_leaves_nothing(served, tmp_path, body):
    root, url = served
    (root / A1.name).write_bytes(body)
    dest = tmp_path / "models"
    with pytest.raises(FetchError, match="is not a TFLite model"):
        fetch_one(A1, dest, base_url=url)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_model_without_a_published_checksum_is_printed_and_can_be_pinned(served, tmp_path):
    root, url = served
    standin = model_path("standin/movinet_a1_stream_int8_standin.tflite")
    shutil.copy(standin, root / A1.name)
    shutil.copy(model_path("standin/movinet_a2_stream_int8_standin.tflite"), root / "movinet_a2_stream_int8.tflite")
    digest = sha256_of(standin)
    dest = tmp_path / "models"
    first = fetch_one(A1, dest, base_url=url)
    assert first == f"fetched  {A1.name} sha256 {digest} (nothing to check it against: pin it with --pin)"
    pins = tmp_path / "SHA256SUMS"
    pins.write_text(f"{'0' * 64}  {A1.name}\n")
    (dest / A1.name).unlink()
    command = [sys.executable, "-m", "install.fetch_models", "--dest", str(dest), "--all", "--timeout", "5"]
    wrong = subprocess.run([*command, "--pins", str(pins)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env=app_env(MOVINET_MODELS_URL=url))  # fmt: skip
    assert wrong.returncode == 1 and f"expected {'0' * 64}" in wrong.stderr and not (dest / A1.name).exists()
    right = subprocess.run([*command, "--pin", f"{A1.name}={digest}"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env=app_env(MOVINET_MODELS_URL=url))  # fmt: skip
    assert right.returncode == 0, right.stderr
    assert sha256_of(dest / A1.name) == digest and f"fetched  {A1.name} sha256 {digest}\n" in right.stdout

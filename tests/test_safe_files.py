"""Files the app makes or replaces beside the action library and the clips: a symbolic link
planted where one of them goes is never followed (its target is neither made nor overwritten), a
sidecar cut short by the disk is not left behind, and two apps on one library keep each other's
recent events. Real files, the real encoder, the real app where the answer is the command line's."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import app_env, classify_command, media_path
from test_recorder import pictures_from

from video_classifier.data import ActionEvent
from video_classifier.outputs.recorder import Clip, ClipFile
from video_classifier.teach.examples import ModelIdentity
from video_classifier.teach.library import ActionLibrary
from video_classifier.teach.recent_events import EventFile, EventRecord, events_path

MODEL = ModelIdentity("model.tflite", "ab" * 32, 4)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def record(event_id: str, started_at: float) -> EventRecord:
    return EventRecord(event_id, "waving", started_at, 1.0, 3.0, 0.9, 10, np.full(4, 0.5, np.float32))


@pytest.mark.parametrize("job", [["--forget", "waving"], ["--learn", "waving", "--camera", "CLIP"]], ids=["forget", "learn"])
@pytest.mark.parametrize("target", ["missing", "existing"])
def test_a_link_planted_at_the_librarys_lock_is_refused_and_its_target_left_alone(tmp_path, job, target):
    actions = tmp_path / "actions.json"
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    if target == "existing":
        victim.write_text("precious\n")
    (tmp_path / "actions.json.lock").symlink_to(victim)
    args = [str(media_path("carving_ice.mp4")) if arg == "CLIP" else arg for arg in job]
    done = subprocess.run(
        classify_command("--no-display", "--actions", actions, *args), capture_output=True, text=True, env=app_env(), timeout=120
    )
    line = one_error_line(done)
    assert f"the action library's lock file {tmp_path / 'actions.json.lock'} is a symbolic link: remove it" in line
    if target == "existing":
        assert victim.read_text() == "precious\n"
    else:
        assert not victim.exists()  # O_CREAT through the link would have made it
    assert (tmp_path / "actions.json.lock").is_symlink() and not actions.exists()


def test_a_link_planted_at_the_recent_events_is_replaced_not_followed(tmp_path):
    library = ActionLibrary(tmp_path / "actions.json", MODEL)
    victim = tmp_path / "victim.json"
    victim.write_text("precious\n")
    events_path(library.path).symlink_to(victim)
    EventFile.beside(library).save([record("0123abcd", 1000.0)])
    assert victim.read_text() == "precious\n"
    assert not events_path(library.path).is_symlink()
    assert [r.id for r in EventFile.beside(library).load()] == ["0123abcd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["actions.events.json", "actions.json.lock", "victim.json"]


@pytest.fixture(scope="module")
def pictures():
    return pictures_from("carving_ice.mp4", 2)


def clip_file(folder: Path) -> ClipFile:
    return ClipFile(folder, Clip(ActionEvent("carving ice", 0.0, 0.0, [0.9]), 0.0, wall_start=1_700_000_000.25), 15.0)


def sidecar(file: ClipFile) -> dict:
    return {"clip": {"file": file.path.name, "frames": file.frames}}


def clip_beside_a_victim(tmp_path: Path) -> tuple[Path, Path, ClipFile]:
    """A file someone cares about (the link's target), and a clip about to be written in a folder
    of its own."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    folder = tmp_path / "clips"
    folder.mkdir()
    return victim, folder, clip_file(folder)


def test_a_link_planted_at_a_clips_partial_file_is_refused_and_its_target_left_alone(tmp_path, pictures):
    victim, folder, file = clip_beside_a_victim(tmp_path)
    file.partial.symlink_to(victim)
    with pytest.raises(ValueError, match="part.mp4 is a symbolic link"):
        file.write(pictures[0])
    file.discard()
    assert victim.read_text() == "precious\n" and list(folder.iterdir()) == []


def test_a_link_planted_at_a_clips_sidecar_is_replaced_not_followed(tmp_path, pictures):
    victim, folder, file = clip_beside_a_victim(tmp_path)
    file.path.with_suffix(".json").symlink_to(victim)
    for picture in pictures:
        file.write(picture)
    path = file.finish(sidecar)
    assert victim.read_text() == "precious\n"
    assert not path.with_suffix(".json").is_symlink() and '"frames": 30' in path.with_suffix(".json").read_text()
    assert {p.name for p in folder.iterdir()} == {path.name, path.with_suffix(".json").name}


def test_a_sidecar_the_disk_cuts_short_is_not_left_behind_nor_its_clip(tmp_path, pictures):
    """The clip is written, then the disk takes no more than 16 bytes of a file (RLIMIT_FSIZE: the
    kernel refuses the rest of each write, as a full disk does): the sidecar is not saved, and
    neither it, a piece of it, nor the clip without it stays in the folder."""
    file = clip_file(tmp_path)
    for picture in pictures:
        file.write(picture)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (16, hard))
    try:
        with pytest.raises(OSError):
            file.finish(sidecar)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert list(tmp_path.iterdir()) == []


def test_two_apps_saving_recent_events_to_one_library_keep_each_others(tmp_path):
    """Two writers, each with its own files open (as two processes have), save 40 events each,
    one at a time, as fast as they can: all 80 are on disk at the end (each save reads what is on
    disk, merges its event in and writes it all back: a save between another's read and write
    would lose that other's event for good)."""
    path = tmp_path / "actions.json"

    def app(name: str) -> None:
        file = EventFile.beside(ActionLibrary(path, MODEL))
        for i in range(40):
            file.save([record(f"{name}{i:04d}", 1000.0 + i)])

    threads = [threading.Thread(target=app, args=(name,)) for name in ("aaaa", "bbbb")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    saved = {r.id for r in EventFile.beside(ActionLibrary(path, MODEL)).load()}
    assert saved == {f"{name}{i:04d}" for name in ("aaaa", "bbbb") for i in range(40)}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(tmp_path):
    """A clip's sidecar was made 0600 beside its 0644 clip (the temporary file's mode), and a
    saved action library lost the permissions its owner had given it."""
    from utils.safe_files import replace_file

    shared = tmp_path / "actions.json"
    shared.write_text("{}")
    shared.chmod(0o640)
    replace_file(shared, b'{"actions": {}}')
    assert shared.read_bytes() == b'{"actions": {}}' and (shared.stat().st_mode & 0o777) == 0o640
    before = os.umask(0o027)
    try:
        replace_file(tmp_path / "new.json", b"{}")
    finally:
        os.umask(before)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640  # 0666 under umask 027
    shared.chmod(0o4750)
    replace_file(shared, b"{}")
    assert shared.stat().st_mode & 0o7777 == 0o750  # never a set-id bit
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

"""The systemd instances that setup.sh --install-service NAME installs: one template, one args file each."""

import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys

import pytest
from conftest import IN_CI, ROOT

from install.service import read_args, thread_budget, unit_text
from video_classifier.sources import default_camera

PASSWORD = "s3cret-pw"
CAMERA = f"rtsp://viewer:{PASSWORD}@192.168.1.20:554/stream1"


def verify(unit):
    """systemd's own check of a unit file (the template is checked as an instance of it)."""
    if shutil.which("systemd-analyze") is None:
        if IN_CI:
            pytest.fail("systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


def service(*args):
    """Run ``python -m install.service``; always with --root, so nothing touches the real /etc."""
    assert "--root" in args
    command = [sys.executable, "-m", "install.service", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def refused(result, *words):
    """Exit 2 with one ``error:`` line holding ``words``."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def exec_start(text):
    """The ExecStart command line of a unit, as argv."""
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def budget(conf):
    """The MOVINET_NUM_THREADS that threads.env gives every instance."""
    lines = [line for line in (conf / "threads.env").read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 1 and lines[0].startswith("MOVINET_NUM_THREADS=")
    return int(lines[0].split("=", 1)[1])


def test_headless_unit_runs_at_boot_and_restarts_on_failure(tmp_path):
    conf = tmp_path / "etc/movinet"
    text = unit_text(ROOT / ".venv/bin/python", conf, desktop=False, user="root")
    assert "Restart=on-failure" in text and "WantedBy=multi-user.target" in text and "User=root" in text
    python = str(ROOT / ".venv/bin/python")
    log = f"{ROOT}/logs/%i.jsonl"
    # The flags are the instance's args file, read by classify.py (@FILE): none are in the unit.
    assert exec_start(text) == [python, f"{ROOT}/classify.py", "--no-display", "--log", log, f"@{conf}/%i.args"]
    # What the app takes from the unit: its instance's name, and its share of the cores.
    assert "Environment=PYTHONUNBUFFERED=1 MOVINET_INSTANCE=%i" in text.splitlines()
    assert f"EnvironmentFile=-{conf}/threads.env" in text.splitlines()
    unit = tmp_path / "movinet@.service"
    unit.write_text(text.replace(python, sys.executable))
    result = verify(unit)
    assert result.returncode == 0, result.stderr


def test_desktop_unit_opens_the_window_on_the_hdmi_display(tmp_path):
    result = service(
        "install", "kitchen", "--desktop", "--root", str(tmp_path), "--python", sys.executable, "--", "--camera", "0"
    )
    assert result.returncode == 0, result.stderr
    # A user service: its files in the home folder (here tmp_path), no User=.
    template = tmp_path / ".config/systemd/user/movinet@.service"
    conf = tmp_path / ".config/movinet"
    text = template.read_text()
    assert exec_start(text)[2:] == ["--display", ":0", f"@{conf}/%i.args"]
    assert "WantedBy=graphical-session.target" in text and "User=" not in text
    assert f"EnvironmentFile=-{conf}/threads.env" in text
    assert read_args(conf / "kitchen.args") == ["--camera", "0"]
    result = verify(template)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # the installer 5 times
def test_console_unit_draws_on_the_hdmi_console_at_boot(tmp_path):
    user = pwd.getpwuid(os.geteuid()).pw_name
    result = service("install", "hall", "--console", "--root", str(tmp_path), "--python", sys.executable, "--", "--camera", "0")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "etc/systemd/system/movinet@.service").read_text()
    assert exec_start(text)[2:5] == ["--display", "fb", "--log"] and "--no-display" not in text
    assert "SupplementaryGroups=video tty" in text and f"User={user}" in text and "WantedBy=multi-user.target" in text
    result = verify(tmp_path / "etc/systemd/system/movinet@.service")
    assert result.returncode == 0, result.stderr
    refused(service("install", "x", "--console", "--desktop", "--root", str(tmp_path)), "not allowed with argument")
    # One template, one console: a second instance would share the console (or turn it headless).
    refused(service("install", "yard", "--root", str(tmp_path), "--", "--camera", "1"), "instance hall", "HDMI console")
    # Alone, an instance can change its mode.
    assert service("install", "hall", "--root", str(tmp_path), "--", "--camera", "0").returncode == 0
    refused(service("install", "yard", "--console", "--root", str(tmp_path)), "instance hall", "without --console")


@pytest.mark.slow  # the installer 8 times
def test_two_cameras_each_with_its_own_args_file_and_a_share_of_the_cores(tmp_path):
    root = str(tmp_path)
    front = ["--camera", CAMERA, "--serve", "0.0.0.0:8000", "--record", "clips/front", "--mqtt", "ha.local"]
    back = ["--camera", "1", "--serve=8001", "--actions", "back.json", "--num-threads", "1"]
    for name, flags in (("front", front), ("back", back)):
        result = service("install", name, "--root", root, "--python", sys.executable, "--", *flags)
        assert result.returncode == 0, result.stderr
    conf = tmp_path / "etc/movinet"
    for name, flags in (("front", front), ("back", back)):
        args = conf / f"{name}.args"
        assert read_args(args) == flags
        assert stat.S_IMODE(args.stat().st_mode) == 0o600 and args.stat().st_uid == os.geteuid()
    units = tmp_path / "etc/systemd/system"
    assert [p.name for p in units.iterdir()] == ["movinet@.service"]
    assert PASSWORD not in (units / "movinet@.service").read_text()
    result = verify(units / "movinet@.service")
    assert result.returncode == 0, result.stderr
    cores = os.cpu_count()
    assert budget(conf) == max(1, cores // 2)

    # A third on the same port (another spelling of it) is refused, naming the instance that has it.
    result = service("install", "side", "--root", root, "--", "--camera", "2", "--serve", "127.0.0.1:8000")
    assert refused(result) == (
        "error: instance front already uses the live view port 8000 (--serve); give side another, "
        "or remove front first (./setup.sh --remove-service front)"
    )
    assert not (conf / "side.args").exists() and budget(conf) == max(1, cores // 2)
    # Updating an instance is not a clash with itself, and counts it once.
    assert service("install", "back", "--root", root, "--", *back).returncode == 0
    assert budget(conf) == max(1, cores // 2)

    result = service("remove", "front", "--root", root)
    assert result.returncode == 0, result.stderr
    assert not (conf / "front.args").exists() and budget(conf) == cores
    refused(service("remove", "front", "--root", root), "no instance front", "installed: back")


@pytest.mark.slow  # the installer 24 times
@pytest.mark.parametrize(
    ("mine", "theirs", "clash"),
    [
        (["--camera", CAMERA], ["--camera", CAMERA], "camera"),
        # one camera however its URL is written: no default port, another login, upper case
        (["--camera", "rtsp://viewer:other@192.168.1.20/stream1"], ["--camera", CAMERA], "camera"),
        ([f"--camera=RTSP://admin:{PASSWORD}@192.168.1.20:554/stream1"], ["--camera", CAMERA], "camera"),
        (["--camera", "rtsp://192.168.1.20/stream2"], ["--camera", CAMERA], None),  # another stream
        (["--camera", "rtsp://192.168.1.20:8554/stream1"], ["--camera", CAMERA], None),  # another server
        ([], [], "camera"),
        (["--camera", default_camera()], [], "camera"),  # the camera classify.py opens without --camera
        (["--camera", "1", "--actions", "./taught.json"], ["--actions=taught.json"], "actions file"),
        (["--camera", "1", "--record", "clips/"], ["--record", f"{ROOT}/clips"], "clips folder"),
        (["--camera", "1", "--serve", "8000"], ["--serve", "0.0.0.0:8000"], "live view port"),
        (["--camera", "1", "--serve", "8001", "--record", "a"], ["--serve", "8000", "--record", "b"], None),
        (
            ["--camera", "1", "--serve", "8001", "--serve-token", "8000", "--record", "a", "--record-max-mb", "9"],
            ["--serve", "8000", "--record", "b"],
            None,
        ),
    ],
)
def test_a_camera_port_actions_file_or_clips_folder_serves_one_instance(tmp_path, mine, theirs, clash):
    assert service("install", "first", "--root", str(tmp_path), "--", *theirs).returncode == 0
    result = service("install", "second", "--root", str(tmp_path), "--", *mine)
    if clash is None:
        assert result.returncode == 0, result.stderr
    else:
        line = refused(result, "instance first", clash)
        assert PASSWORD not in line  # the camera is named without its password


@pytest.mark.parametrize("name", ["", "two words", "../etc", "x" * 33, "-cam", "cam.1", "café"])
def test_a_bad_instance_name_is_refused(tmp_path, name):
    line = refused(service("install", name, "--root", str(tmp_path), "--"))
    if name == "two words":
        rule = "use 1 to 32 letters, digits, '_' or '-', starting with a letter or digit (e.g. garden)"
        assert line == f"error: instance name 'two words': {rule}"
    assert not tmp_path.joinpath("etc").exists()


def test_an_argument_the_args_file_cannot_hold_is_refused_without_showing_it(tmp_path):
    line = refused(service("install", "cam", "--root", str(tmp_path), "--", "--mqtt-password", f"{PASSWORD}\nx"))
    assert (
        line == "error: the value of --mqtt-password contains a line break; the args file holds one argument per line: remove it"
    )
    for flags, words in (
        ([f"--mqtt-password={PASSWORD}\rx"], ["--mqtt-password", "line break"]),
        (["--mqtt-password", f"@{PASSWORD}"], ["--mqtt-password=@", "file of flags"]),
    ):
        line = refused(service("install", "cam", "--root", str(tmp_path), "--", *flags), *words)
        assert PASSWORD not in line
    assert not tmp_path.joinpath("etc").exists()


def test_the_args_file_belongs_to_the_user_the_service_runs_as(tmp_path):
    other = next(p for p in pwd.getpwall() if p.pw_uid != os.geteuid())
    result = service("install", "front", "--root", str(tmp_path), "--user", other.pw_name, "--", "--camera", "0")
    if os.geteuid() == 0:  # setup.sh runs this with sudo
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "etc/movinet/front.args").stat().st_uid == other.pw_uid
    else:
        refused(result, f"must belong to {other.pw_name}", "sudo")


def test_instances_share_one_user(tmp_path):
    other = next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.geteuid())
    assert service("install", "front", "--root", str(tmp_path), "--", "--camera", "0").returncode == 0
    line = refused(service("install", "back", "--root", str(tmp_path), "--user", other, "--", "--camera", "1"))
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert line.startswith(f"error: instance front runs as {me}") and f"install back as {me}" in line


def test_a_folder_that_cannot_be_written_is_one_error_line(tmp_path):
    (tmp_path / "etc").write_text("a file where the folder should be")
    refused(service("install", "front", "--root", str(tmp_path), "--", "--camera", "0"), "cannot use", "etc")


def files_under(folder):
    """Every file under ``folder``: its bytes and mode, by path."""
    return {p: (p.read_bytes(), p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


def test_a_dry_run_checks_everything_prints_the_files_and_writes_nothing(tmp_path):
    root = str(tmp_path)
    assert service("install", "front", "--root", root, "--", "--camera", "1", "--serve", "8000").returncode == 0
    before = files_under(tmp_path)
    door = [
        "--camera",
        CAMERA,
        "--serve",
        "0.0.0.0:8001",
        "--mqtt",
        "broker.local",
        "--mqtt-password",
        PASSWORD,
        f"--serve-token={PASSWORD}",
    ]
    install = ["install", "door", "--root", root, "--python", sys.executable]
    result = service(*install, "--dry-run", "--", *door)
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path) == before
    shown = result.stdout
    assert PASSWORD not in shown and "viewer" not in shown  # the camera's login, the password and the token
    conf = tmp_path / "etc/movinet"
    assert f"would write {conf}/door.args (mode 0600" in shown and "\n    rtsp://192.168.1.20:554/stream1\n" in shown

    # What it printed is what the install then writes.
    assert service(*install, "--", *door).returncode == 0
    for written in (tmp_path / "etc/systemd/system/movinet@.service", conf / "threads.env"):
        text = "\n".join(f"    {line}" if line else "" for line in written.read_text().splitlines())
        assert f"would write {written} (mode 0644):\n{text}\n" in shown
    assert budget(conf) == max(1, os.cpu_count() // 2)

    # A dry run refuses what an install would refuse, and a removal's dry run removes nothing.
    before = files_under(tmp_path)
    refused(service("install", "side", "--root", root, "--dry-run", "--", "--serve", "8000"), "instance front", "port 8000")
    result = service("remove", "front", "--root", root, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would remove {conf}/front.args" in result.stdout and "MOVINET_NUM_THREADS=" in result.stdout
    assert files_under(tmp_path) == before


def test_thread_budget_shares_the_cores():
    assert [thread_budget(4, n) for n in (0, 1, 2, 3, 4, 5)] == [4, 4, 2, 1, 1, 1]


def test_setup_sh_checks_the_service_flags_before_any_step(tmp_path):
    # Only dirname, sed and id on PATH: were a check missing, the next step would fail (exit 127), not set anything up.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "sed", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "VENV": str(tmp_path / "venv")}

    def setup(*args):
        command = ["/bin/bash", str(ROOT / "setup.sh"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)

    refused(setup("--install-service", "bad/name"), "bad/name")
    refused(setup("--remove-service"), "needs an instance name")
    refused(setup("--install-service", "a", "--remove-service", "b"), "one at a time")
    refused(setup("--install-service", "--desktop", "--console"), "give one")
    # --remove-service does only that: here, with no venv, it says so at once.
    refused(setup("--remove-service", "front"), "nothing was installed")
    # a camera URL where a name or an option goes is not repeated
    for args in (["--install-service", CAMERA], ["--install-service", "door", CAMERA], ["--remove-service", CAMERA]):
        line = refused(setup(*args), "a camera URL goes after --")
        assert PASSWORD not in line
    usage = setup("--help")
    assert usage.returncode == 0
    lines = usage.stdout.strip().splitlines()
    assert lines[0].startswith("Set up the app") and lines[-1].startswith("Safe to run again")
    assert any("--remove-service NAME" in line for line in lines)


def test_a_camera_url_in_a_clash_is_shown_without_its_login_or_query(tmp_path):
    url = f"http://192.168.1.21/video.cgi?user=admin&pwd={PASSWORD}"
    for camera in (url, f"rtsp://192.168.1.20/user=viewer&password={PASSWORD}&channel=1"):  # a login in the path
        root = tmp_path / str(len(camera))
        assert service("install", "first", "--root", str(root), "--", "--camera", camera).returncode == 0
        line = refused(service("install", "second", "--root", str(root), "--", "--camera", camera), "instance first")
        assert PASSWORD not in line and "viewer" not in line and "admin" not in line


def test_a_camera_url_before_the_double_dash_is_refused_without_showing_it(tmp_path):
    root = str(tmp_path)
    for args in (
        ["install", CAMERA, "--root", root],
        ["install", "door", CAMERA, "--root", root],
        ["install", "door", "--camera", CAMERA, "--root", root],
        ["remove", CAMERA, "--root", root],
    ):
        line = refused(service(*args))
        assert PASSWORD not in line and "viewer" not in line
        assert "--camera URL" in line
    assert not tmp_path.joinpath("etc").exists()


def test_a_camera_url_that_cannot_work_is_refused_before_anything_is_written(tmp_path):
    line = refused(
        service("install", "door", "--root", str(tmp_path), "--", "--camera", f"rtsp://viewer:12/{PASSWORD}@192.168.1.20/s"),
        "--camera: rtsp://192.168.1.20/s: an @ comes after the host",
    )
    assert PASSWORD not in line
    assert not tmp_path.joinpath("etc").exists()


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--fps", "0"], ["--fps: expected frames per second of at least 0.5", "got '0'", "(in the classify.py flags after --)"]),
        (["--camra", "picamera2"], ["unknown flag(s): --camra"]),
        (["--loop"], ["--loop plays a video file again and again"]),
    ],
)
def test_flags_classify_py_would_refuse_are_refused_before_anything_is_written(tmp_path, flags, words):
    refused(service("install", "front", "--root", str(tmp_path), "--", *flags), *words)
    assert not list(tmp_path.rglob("*.args"))


def test_an_args_file_reads_back_as_it_was_given_and_hides_its_secrets_abbreviated_or_not(tmp_path):
    """A password after an abbreviated flag (classify.py takes ``--mqtt-pass``) that starts with
    # or a space: the file of flags must give it back exactly, and a dry run must not show it."""
    from video_classifier.options import parse_settings

    flags = [
        "--camera",
        "0",
        "--mqtt",
        "broker.local",
        "--mqtt-pass",
        f"#{PASSWORD}",
        "--serve-tok",
        f" {PASSWORD}x",
        "--serve",
        "8000",
        "--no-display",
    ]
    dry = service("install", "door", "--root", str(tmp_path), "--dry-run", "--", *flags)
    assert dry.returncode == 0, dry.stderr
    assert PASSWORD not in dry.stdout + dry.stderr and "broker.local" in dry.stdout
    assert service("install", "door", "--root", str(tmp_path), "--", *flags).returncode == 0
    settings = parse_settings([f"@{tmp_path / 'etc/movinet/door.args'}"])
    assert (settings.mqtt_password, settings.serve_token, settings.mqtt) == (f"#{PASSWORD}", f" {PASSWORD}x", "broker.local")


def test_an_instances_flags_are_checked_after_the_units_own(tmp_path):
    """The unit gives a headless or console instance its --log: --log-max-mb there was refused as
    a flag without its --log, though docs/services.md points to it. A desktop instance logs to no
    file, so there it still is."""
    for mode in ([], ["--console"]):
        result = service("install", "cam", *mode, "--root", str(tmp_path), "--dry-run", "--", "--log-max-mb", "10")
        assert result.returncode == 0, result.stderr
    desktop = service("install", "cam", "--desktop", "--root", str(tmp_path), "--dry-run", "--", "--log-max-mb", "10")
    refused(desktop, "--log-max-mb goes with --log FILE")


def test_an_installed_instance_this_version_refuses_is_named_at_the_next_install(tmp_path):
    """An instance installed by an older version with a flag now refused (--mqtt-user without
    --mqtt) fails at every start, said only in the journal: the next install names it."""
    conf = tmp_path / "etc/movinet"
    conf.mkdir(parents=True)
    (conf / "old.args").write_text("--camera\n1\n--mqtt-user\nbob\n")
    (conf / "old.args").chmod(0o600)
    result = service("install", "new", "--root", str(tmp_path), "--dry-run", "--", "--camera", "2")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: instance old fails at every start: --mqtt-user goes with --mqtt HOST, the broker to publish to: "
        f"add that, or leave --mqtt-user out (fix {conf / 'old.args'})"
    ]

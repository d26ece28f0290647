"""A real RTSP IP camera for the tests and benchmarks: a clip served as H.264, looped, in real time.

    /usr/bin/python3 tests/support/rtsp_camera.py --clip FILE [--port 8554] [--path /cam]
        [--user alice --password s3cret] [--stamp] [--fps 30] [--width 640 --height 480]

It runs under the system Python, which has GStreamer's bindings (python3-gi,
gir1.2-gst-rtsp-server-1.0): a virtual environment cannot import them. It listens on 127.0.0.1
only, prints ``ready rtsp://127.0.0.1:PORT/PATH`` once it serves, and exits on SIGTERM or SIGINT.
With --user, a client must give that user and password (Basic auth), or gets 401 Unauthorized.
With --stamp, each frame carries the time it was sent (see frame_stamp.py), to measure latency.

The clip is decoded once into memory (at the output size), and each client sees the same live
stream (a shared media): frames are sent at the clip's own rate (or --fps) as the clock goes, and
a client that connects late gets the current frame, as from a camera. Both TCP (interleaved) and
UDP transports work. GStreamer decodes the clip: install gstreamer1.0-libav for any clip (H.264 of
every profile, MPEG-4 part 2, GIF; openh264dec alone takes only some H.264). Sizes are made even.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer, GstVideo  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import frame_stamp as stamp  # noqa: E402

MAX_BYTES = 512 * 1024 * 1024  # of decoded frames kept; a longer clip loops over its first part


def fraction(rate: float) -> str:
    """A frame rate as GStreamer writes it in caps, e.g. 30000/1001."""
    numerator, denominator = Gst.util_double_to_fraction(rate)
    return f"{numerator}/{denominator}"


class Clip:
    """The clip's frames as raw I420 bytes at the output size, and their rate."""

    def __init__(self, path: Path, fps: float | None, width: int | None, height: int | None) -> None:
        self._decode(path, fps, width, height)
        # H.264 needs even sizes; a clip with non-square pixels may scale to an odd one (427x256).
        if self.info.width % 2 or self.info.height % 2:
            self._decode(path, fps, self.info.width // 2 * 2, self.info.height // 2 * 2)

    def _decode(self, path: Path, fps: float | None, width: int | None, height: int | None) -> None:
        caps = "video/x-raw,format=I420,pixel-aspect-ratio=1/1"
        if width:
            caps += f",width={width}"
        if height:
            caps += f",height={height}"
        if fps:
            caps += f",framerate={fraction(fps)}"
        pipeline = Gst.parse_launch(
            f"uridecodebin uri={Gst.filename_to_uri(str(path))} ! videoconvert ! videoscale ! videorate ! "
            f"{caps} ! appsink name=sink sync=false"
        )
        sink, bus = pipeline.get_by_name("sink"), pipeline.get_bus()
        pipeline.set_state(Gst.State.PLAYING)
        self.frames: list[bytes] = []
        first_pts = last_pts = None
        kept = 0
        while kept < MAX_BYTES:
            sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
            if sample is None:
                if sink.get_property("eos"):
                    break
                # A clip that cannot be decoded never reaches its end: the error is on the bus.
                if error := bus.pop_filtered(Gst.MessageType.ERROR):
                    pipeline.set_state(Gst.State.NULL)
                    raise SystemExit(f"cannot decode {path}: {error.parse_error()[0].message}")
                continue
            buffer = sample.get_buffer()
            self.frames.append(buffer.extract_dup(0, buffer.get_size()))
            kept += buffer.get_size()
            self.caps = sample.get_caps()
            first_pts = buffer.pts if first_pts is None else first_pts
            last_pts = buffer.pts
        pipeline.set_state(Gst.State.NULL)
        if not self.frames:
            raise SystemExit(f"cannot decode {path}: no frames")
        self.info = GstVideo.VideoInfo.new_from_caps(self.caps)
        if fps:
            self.fps = fps
        elif self.info.fps_n > 0:
            self.fps = self.info.fps_n / self.info.fps_d
        elif len(self.frames) > 1 and last_pts > first_pts:  # variable rate (a GIF): the average
            self.fps = (len(self.frames) - 1) * Gst.SECOND / (last_pts - first_pts)
        else:
            self.fps = 30.0
        # What the encoder is told: the real rate, as a fraction.
        self.caps = Gst.Caps.from_string(
            f"video/x-raw,format=I420,width={self.info.width},height={self.info.height},"
            f"pixel-aspect-ratio=1/1,framerate={fraction(self.fps)}"
        )

    def stamped(self, index: int, ms: int) -> bytes:
        """Frame ``index`` with the stamp of ``ms`` over its top-left corner (its colour made grey)."""
        info, frame = self.info, bytearray(self.frames[index])
        rows = stamp.luma_rows(ms, info.width)
        for y, row in enumerate(rows):
            start = info.offset[0] + y * info.stride[0]
            frame[start : start + len(row)] = row
        grey = b"\x80" * ((len(rows[0]) + 1) // 2)
        for plane in (1, 2):  # the chroma planes, at half size
            for y in range((len(rows) + 1) // 2):
                start = info.offset[plane] + y * info.stride[plane]
                frame[start : start + len(grey)] = grey
        return bytes(frame)


class Feeder:
    """Pushes the clip into one media's appsrc at the clip's rate, looping, until the media ends.

    appsrc asks for a frame (need-data) once the one before has gone on to the encoder; the feeder
    waits for that frame's time on the clock, then stamps and pushes it, so each frame is stamped
    when it is sent, and a slow moment delays one frame rather than the whole stream.
    """

    def __init__(self, clip: Clip, appsrc: Gst.Element, with_stamp: bool) -> None:
        self.clip, self.appsrc, self.with_stamp = clip, appsrc, with_stamp
        self.period = 1.0 / clip.fps
        self.due = 0.0  # monotonic time of the next frame
        self.index = 0  # of the next frame in the clip
        self.lock = threading.Lock()
        appsrc.set_property("caps", clip.caps)
        appsrc.connect("need-data", self.need_data)

    def need_data(self, appsrc: Gst.Element, _length: int) -> None:
        with self.lock:
            now = time.monotonic()
            if self.due < now - self.period:  # first frame, or fell behind: start the clock again
                self.due = now
                # The frame the clip shows at this moment, as a camera would: its time is the wall clock's.
                self.index = int(time.time() * self.clip.fps)
            time.sleep(max(0.0, self.due - now))
            frame = self.index % len(self.clip.frames)
            data = self.clip.stamped(frame, int(time.time() * 1000)) if self.with_stamp else self.clip.frames[frame]
            self.due += self.period
            self.index += 1
        appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data))


def encoder() -> str:
    """The launch text of an H.264 encoder tuned for live streaming, whichever is installed."""
    if Gst.ElementFactory.find("x264enc"):
        # threads=1: the machines running the tests are small, and one client's stream is cheap.
        return "x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={gop} bitrate=2000"
    if Gst.ElementFactory.find("openh264enc"):
        return "openh264enc complexity=low gop-size={gop} bitrate=2000000"
    raise SystemExit("no H.264 encoder: apt-get install gstreamer1.0-plugins-ugly (x264enc) or gstreamer1.0-plugins-bad")


def build_server(clip: Clip, port: int, path: str, user: str | None, password: str | None, with_stamp: bool):
    """An RTSP server on 127.0.0.1:``port`` serving ``clip`` at ``path``, not yet attached."""
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    gop = max(1, round(clip.fps))  # a key frame each second: a new client waits at most that long
    factory.set_launch(
        "( appsrc name=src is-live=true format=time do-timestamp=true ! "
        f"{encoder().format(gop=gop)} ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)  # one pipeline for every client, as a camera has one sensor
    factory.connect("media-configure", lambda _f, media: Feeder(clip, media.get_element().get_by_name("src"), with_stamp))
    if user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        for permission in (GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT):
            permissions.add_permission_for_role("viewer", permission, True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(path, factory)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", required=True, type=Path)
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--stamp", action="store_true", help="draw each frame's send time into it (see frame_stamp.py)")
    parser.add_argument("--fps", type=float, help="frame rate (default: the clip's)")
    parser.add_argument("--width", type=int, help="frame width (default: the clip's)")
    parser.add_argument("--height", type=int, help="frame height (default: the clip's)")
    args = parser.parse_args(argv)
    if args.password is not None and args.user is None:
        parser.error("--password needs --user")
    path = "/" + args.path.lstrip("/")

    Gst.init(None)
    clip = Clip(args.clip, args.fps, args.width, args.height)
    if args.stamp and stamp.cell_size(clip.info.width) < 4:
        parser.error(f"--stamp needs frames at least {4 * stamp.COLUMNS} pixels wide")
    server = build_server(clip, args.port, path, args.user, args.password, args.stamp)
    loop = GLib.MainLoop()
    if not server.attach(None):  # GStreamer has logged why, e.g. the port is taken
        print(f"cannot listen on 127.0.0.1:{args.port} (is the port taken?)", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"ready rtsp://127.0.0.1:{args.port}{path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

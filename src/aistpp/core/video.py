"""Video I/O with PyAV: probe, a streaming reader that picks frames by time, an atomic H.264 writer.

Frames are BGR ``uint8`` arrays ``(h, w, 3)`` (OpenCV's order). Annotation frame ``i`` of an
AIST++ sequence is the video frame shown at time ``i / 60`` s: some source videos are not
exactly 60 fps, so frames are chosen by their timestamps, never by counting.

Nothing is held in memory beyond the current and the next decoded frame.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from aistpp.core.files import check_regular_path
from aistpp.core.formats import ANNOTATION_FPS, atomic_path
from aistpp.errors import AistppError


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` reads from a video's header: size (px, as displayed: a phone's portrait clip
    stored landscape with a 90 degree display rotation is 1080 x 1920), frame rate, frame count, codec."""

    width: int
    height: int
    fps: float
    frames: int
    codec: str
    pix_fmt: str
    duration: float  # seconds
    rotation: int = 0  # the display rotation applied to every decoded frame: 0, 90, 180 or 270 (counter-clockwise)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def _open(path: Path):
    import av

    if not path.is_file():
        if path.exists():
            check_regular_path(path)  # a pipe or a device: refused, never opened (it could block)
        raise AistppError("video not found (check --video-dir and the video name)", path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AistppError(f"cannot read this video ({exc}); is it a complete video file?", path) from None
    if not container.streams.video:
        container.close()
        raise AistppError("the file holds no video stream", path)
    return container


def probe(path: str | Path) -> VideoInfo:
    """Size, fps, frame count (packets counted when the header lacks it), codec of a video."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = int(stream.frames or 0)
        if frames == 0:  # header has no count: count packets (demux only, no decoding)
            frames = sum(1 for p in container.demux(stream) if p.size > 0)
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            frames / float(rate) if rate else 0.0)
        ctx = stream.codec_context
        w, h = int(ctx.width), int(ctx.height)
        turn = _first_rotation(path)
        if turn in (90, 270):
            w, h = h, w
        info = VideoInfo(w, h, float(rate) if rate else 0.0, frames,
                         ctx.name, str(ctx.format.name) if ctx.format else "", duration, turn)
    except AistppError:
        raise
    except Exception as exc:  # av raises many types for broken files
        raise AistppError(f"cannot read this video ({exc})", path) from None
    finally:
        container.close()
    if info.frames == 0 or info.width == 0:
        raise AistppError("the video has no frames", path)
    if not (0 < info.width <= MAX_VIDEO_SIDE and 0 < info.height <= MAX_VIDEO_SIDE):
        raise AistppError(f"the video's size {info.width}x{info.height} is beyond {MAX_VIDEO_SIDE} px a side", path)
    return info


def _rotation(frame) -> int:
    """The frame's display rotation (its display matrix; PyAV's ``VideoFrame.rotation``,
    counter-clockwise degrees) to the nearest quarter turn: 0, 90, 180 or 270."""
    try:
        deg = float(getattr(frame, "rotation", 0) or 0)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(deg):
        return 0
    return int(round(deg / 90.0)) % 4 * 90


def _first_rotation(path: Path) -> int:
    """The display rotation of the first decodable frame (0 when none decodes)."""
    container = _open(path)
    try:
        for frame in container.decode(container.streams.video[0]):
            return _rotation(frame)
    except Exception:  # a broken stream: read_frames reports it when it decodes
        return 0
    finally:
        container.close()
    return 0


MAX_VIDEO_SIDE = 16384  # larger frames than any camera records: refused before decoding


def annotation_frames(info: VideoInfo, fps: float = ANNOTATION_FPS) -> int:
    """How many annotation frames (at ``fps``) ``read_frames`` yields for a video, from its header.

    Annotation frame i exists while a source frame lies within half a source frame of i/fps.
    """
    if info.fps <= 0:
        return info.frames
    return int(math.floor((info.frames - 0.5) * fps / info.fps + 1e-6)) + 1


def _to_bgr(frame) -> np.ndarray:
    """A decoded ``av.VideoFrame`` -> BGR uint8 (h, w, 3), as displayed.

    yuv420p (what H.264 cameras and this writer produce) is converted by OpenCV (BT.601,
    limited range, exact rounding); other pixel formats by FFmpeg's swscale. A display rotation
    (phones store portrait clips landscape and say so in the display matrix) is applied, as
    players, browsers and OpenCV do, so keypoints are in the coordinates of the picture people see.
    """
    import cv2

    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        img = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
    else:
        img = frame.to_ndarray(format="bgr24")
    turn = _rotation(frame)
    return np.ascontiguousarray(np.rot90(img, turn // 90)) if turn else img


def read_frames(path: str | Path, start: int = 0, end: int | None = None,
                fps: float = ANNOTATION_FPS) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(i, frame_bgr)`` for annotation frames ``start <= i < end``, frame i at time i/fps s.

    For each target time the decoded frame with the nearest timestamp is chosen (ties go to
    the earlier frame), measured from the stream's start time. A source at 50 or 30 fps thus
    repeats frames, one at 120 fps skips frames. Iteration stops when the video ends (the
    caller compares the count with what it expected). ``end=None`` runs to the end.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        t0 = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        rate = float(stream.average_rate or stream.guessed_rate or ANNOTATION_FPS)
        if start > 0:  # seek a little before the first target, then decode forward
            target = max(start / fps - 1.0, 0.0) + t0
            container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
        frames = container.decode(stream)
        count = 0

        def next_frame():
            nonlocal count
            try:
                frame = next(frames)
            except StopIteration:
                return None
            except Exception as exc:
                raise AistppError(f"decoding failed at frame {count} ({exc})", path) from None
            t = frame.time if frame.time is not None else count / rate + t0
            count += 1
            return t - t0, frame

        cur, nxt = None, next_frame()
        if nxt is None and start == 0:
            raise AistppError("the video has no frames", path)
        i = start
        while end is None or i < end:
            t = i / fps
            while nxt is not None and nxt[0] <= t:
                cur, nxt = nxt, next_frame()
            if cur is None and nxt is None:
                return
            if nxt is None:  # past the last frame: stop once another frame would be nearer
                if t - cur[0] > 0.5 / rate + 1e-6:
                    return
                pick = cur
            elif cur is None or nxt[0] - t < t - cur[0] - 1e-6:  # a tie (within 1 us) -> earlier
                pick = nxt
            else:
                pick = cur
            yield i, _to_bgr(pick[1])
            i += 1
    finally:
        container.close()


class VideoWriter:
    """Write BGR frames to a browser-playable MP4 (H.264 / libx264, yuv420p), atomically.

    >>> with VideoWriter("out.mp4", fps=60, size=(1920, 1080)) as w:   # doctest: +SKIP
    ...     w.write(frame_bgr)          # uint8 (1080, 1920, 3)

    The file appears at ``path`` only when the block ends without an error (temporary file +
    rename). Width and height must be even (yuv420p). ``crf``/``preset`` are libx264's.
    """

    def __init__(self, path: str | Path, fps: float = ANNOTATION_FPS, size: tuple[int, int] = (1920, 1080),
                 crf: int = 20, preset: str = "veryfast", overwrite: bool = True, threads: int = 0):
        self.path = Path(path)
        self.fps = fps
        self.width, self.height = int(size[0]), int(size[1])
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise AistppError(f"video size must be positive and even for yuv420p, got {self.width}x{self.height}",
                              self.path)
        self.crf, self.preset, self.overwrite, self.threads = crf, preset, overwrite, threads
        self.frames = 0
        self._stack: contextlib.ExitStack | None = None
        self._container = None
        self._stream = None

    def __enter__(self) -> "VideoWriter":
        import av

        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path, self.overwrite))
        self._container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        # BT.601 limited range, as converted in ``write``; tagged so that players agree
        stream.options = {"crf": str(self.crf), "preset": self.preset,
                          "x264-params": "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m"}
        if self.threads:
            stream.codec_context.thread_count = self.threads
        self._stream = stream
        return self

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one frame: BGR uint8 (h, w, 3) of the writer's size."""
        import av
        import cv2

        frame_bgr = np.asarray(frame_bgr)
        if frame_bgr.shape != (self.height, self.width, 3) or frame_bgr.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(self.height, self.width, 3)}, got {frame_bgr.dtype} {frame_bgr.shape}")
        yuv = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420)  # (3h/2, w): exact BT.601 rounding
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Flush and close the container inside the atomic write: a failure there (a full disk)
        removes the temporary file and is one ``AistppError`` naming the video."""
        stack, self._stack = self._stack, None
        error = None
        try:
            if exc_type is None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        except Exception as err:  # noqa: BLE001 - reported below, inside the atomic guard
            error = err
        try:
            self._container.close()
        except Exception as err:  # noqa: BLE001
            error = error or err
        if exc_type is None and error is not None:
            reason = getattr(error, "strerror", None) or str(error)
            try:
                stack.__exit__(type(error), error, None)
            except AistppError:
                raise
            except Exception:  # noqa: BLE001 - an FFmpeg error, not an OSError: same message
                pass
            raise AistppError(f"write failed ({reason}); nothing was changed", self.path) from None
        if exc_type is None and self.frames == 0:
            stack.__exit__(AistppError, AistppError("no frames"), None)
            raise AistppError("no frame was written; nothing was saved", self.path)
        return bool(stack.__exit__(exc_type, exc, tb))


AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".flac")


def find_music(music_dir: str | Path, tag: str) -> Path:
    """``<music_dir>/<tag>.<wav|mp3|m4a|aac|ogg|flac>`` (AIST++'s music is named by its tag, e.g. mWA2)."""
    music_dir = Path(music_dir)
    if not music_dir.is_dir():
        raise AistppError("music folder not found", music_dir)
    for suffix in AUDIO_SUFFIXES:
        path = music_dir / f"{tag}{suffix}"
        if path.is_file():
            return path
    raise AistppError(f"no music file for {tag} ({tag}.wav, .mp3, ... expected)", music_dir)


def check_audio(path: str | Path) -> float:
    """Duration (s) of the audio stream of ``path``; AistppError when there is none."""
    import av

    path = Path(path)
    if not path.is_file():
        raise AistppError("audio file not found", path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AistppError("the file holds no audio stream", path)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return float(container.duration or 0) / 1e6
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AistppError(f"cannot read this audio file ({exc})", path) from None


def add_audio(video: str | Path, audio: str | Path, offset_s: float = 0.0, rate: int = 48000) -> float:
    """Give ``video`` (an MP4 we wrote) the audio of ``audio`` from ``offset_s`` on, trimmed to the
    video's duration, as AAC; the video stream is copied, not re-encoded. Atomic: the video is
    replaced only when the new file is complete. Returns the audio duration written (s).

    Alignment: audio time ``offset_s`` plays with the video's first frame (for AIST++, music time
    0 is video frame 0, so drawing from annotation frame F uses ``offset_s = F / 60``).
    """
    import av

    video, audio = Path(video), Path(audio)
    info = probe(video)
    duration = info.frames / info.fps if info.fps else info.duration
    written = 0
    with atomic_path(video) as tmp:
        with av.open(str(video)) as src, av.open(str(audio)) as snd, \
                av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vin = src.streams.video[0]
            vout = out.add_stream_from_template(vin)
            aout = out.add_stream("aac", rate=rate)
            aout.layout = "stereo"
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            first, last = int(round(offset_s * rate)), int(round((offset_s + duration) * rate))
            position = 0  # samples of the (resampled) source consumed so far
            fifo = av.AudioFifo()
            for frame in snd.decode(snd.streams.audio[0]):
                for res in resampler.resample(frame):
                    n = res.samples
                    lo, hi = max(first - position, 0), min(last - position, n)
                    position += n
                    if hi <= lo:
                        if position >= last:
                            break
                        continue
                    data = res.to_ndarray()[:, lo:hi]
                    piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout="stereo")
                    piece.sample_rate = rate
                    fifo.write(piece)
                if position >= last:
                    break
            pts = 0
            while True:
                chunk = fifo.read(1024) or (fifo.read() if fifo.samples else None)
                if chunk is None:
                    break
                chunk.pts = pts
                pts += chunk.samples
                written += chunk.samples
                for packet in aout.encode(chunk):
                    out.mux(packet)
            for packet in aout.encode(None):
                out.mux(packet)
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                out.mux(packet)
    return written / rate

"""vis --audio / --music-dir: the MP4 carries the music, aligned to the drawn frames and trimmed."""

from __future__ import annotations

import wave

import av
import numpy as np
from typer.testing import CliRunner

from aistpp.cli import app

RATE = 44100


def _tone_wav(path, seconds: float, silent_until: float) -> None:
    """A 440 Hz tone, silent for the first ``silent_until`` seconds (a marker of alignment)."""
    t = np.arange(int(RATE * seconds)) / RATE
    signal = 0.5 * np.sin(2 * np.pi * 440 * t) * (t >= silent_until)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((signal * 32767).astype(np.int16).tobytes())


def _streams(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        audio = np.concatenate([f.to_ndarray() for f in c.decode(c.streams.audio[0])], axis=1)
        rate = c.streams.audio[0].rate
        return float(video.duration * video.time_base), audio, rate


def _vis(d, out, *extra):
    seq = d.sequences[0]
    return CliRunner().invoke(app, ["vis", "--anno-dir", str(d.anno_dir), "--video-dir", str(d.video_dir),
                                    "--save-dir", str(out), "--video-name", seq.replace("_cAll_", "_c01_"),
                                    "--mode", "2d", "--quiet", *extra])


def test_audio_is_trimmed_to_the_video(synth_data_videos, tmp_path):
    _tone_wav(tmp_path / "song.wav", 3.0, 0.2)
    res = _vis(synth_data_videos, tmp_path / "out", "--audio", str(tmp_path / "song.wav"))
    assert res.exit_code == 0, res.output
    (mp4,) = (tmp_path / "out").glob("*.mp4")
    duration, audio, rate = _streams(mp4)
    assert abs(duration - 24 / 60) < 1e-6
    assert abs(audio.shape[1] / rate - duration) < 1024 / rate + 1e-3  # within one AAC frame
    # aligned: the song's first 0.2 s are silent and so is the video's (0.4 s long) first half
    assert np.abs(audio[:, : int(0.18 * rate)]).max() < 0.01
    assert np.abs(audio[:, int(0.25 * rate): int(0.35 * rate)]).max() > 0.2


def test_music_dir_and_start_offset(synth_data_videos, tmp_path):
    d = synth_data_videos
    music = tmp_path / "music"
    music.mkdir()
    tag = d.sequences[0].split("_")[4]  # the music tag of the name, e.g. mLH5
    _tone_wav(music / f"{tag}.wav", 3.0, 0.2)
    res = _vis(d, tmp_path / "out", "--music-dir", str(music), "--start", "12")
    assert res.exit_code == 0, res.output
    (mp4,) = (tmp_path / "out").glob("*.mp4")
    duration, audio, rate = _streams(mp4)
    assert abs(duration - 12 / 60) < 1e-6
    # drawing from frame 12 (0.2 s) starts the music at 0.2 s: the tone is there from the start
    assert np.abs(audio[:, int(0.02 * rate): int(0.1 * rate)]).max() > 0.2


def test_missing_music_is_a_clear_error_before_drawing(synth_data_videos, tmp_path):
    (tmp_path / "music").mkdir()
    res = _vis(synth_data_videos, tmp_path / "out", "--music-dir", str(tmp_path / "music"))
    assert res.exit_code == 2 and "no music file for m" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    (tmp_path / "noise.wav").write_bytes(b"RIFF....not audio")
    res = _vis(synth_data_videos, tmp_path / "out", "--audio", str(tmp_path / "noise.wav"))
    assert res.exit_code == 2 and "noise.wav" in res.stderr

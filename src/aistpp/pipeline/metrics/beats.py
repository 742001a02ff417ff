"""Beat Alignment Score (BAS, as Bailando computes it) and music beats.

Motion beats: the mean over joints of each joint's speed between consecutive frames
(N - 1 samples, |P_(t+1) - P_t| per frame), smoothed by a Gaussian of sigma = 5 frames
(``scipy.ndimage.gaussian_filter1d``: reflecting ends, truncated at 4 sigma), and its strict
local minima (a sample below both neighbours; the end samples are never beats).
BAS = mean over music beats b of exp(-d_b^2 / (2 sigma_b^2)), d_b the distance in frames
from b to the nearest motion beat, sigma_b = 3 frames; music beats at or past the N - 1
speed samples are dropped first (Bailando truncates the beat track to that length).

Music beats come from a beat file (times in seconds) or from the song itself with librosa
(``pip install 'aistpp[music]'``), as the AIST++ / Bailando preprocessing does: an onset
envelope at one value per motion frame (sr = fps x 512, hop 512) and
``librosa.beat.beat_track(tightness=100)`` on it, started at the song's nominal tempo, which
AIST's music tags encode (``music_tempo``: mHO<k> 110 + 5k BPM, the other genres 80 + 10k).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aistpp.errors import AistppError

MOTION_SIGMA = 5.0  # frames
BEAT_SIGMA = 3.0  # frames
HOP = 512


def motion_speed(joints: np.ndarray) -> np.ndarray:
    """(N, J, 3) -> (N - 1,): the mean over joints of |P_(t+1) - P_t| (length units per frame)."""
    P = np.asarray(joints, np.float64)
    return np.linalg.norm(np.diff(P, axis=0), axis=-1).mean(1)


def motion_beats(joints: np.ndarray, sigma: float = MOTION_SIGMA) -> np.ndarray:
    """(N, J, 3) -> (B,) int: frames (speed-sample indices) of the smoothed speed's strict local minima."""
    from scipy.ndimage import gaussian_filter1d  # here: scipy.ndimage costs a second at import (every CLI start)

    s = gaussian_filter1d(motion_speed(joints), sigma)
    return np.flatnonzero((s[1:-1] < s[:-2]) & (s[1:-1] < s[2:])) + 1


def beat_alignment(music_beats: np.ndarray, motion_beat_frames: np.ndarray, length: int | None = None,
                   sigma: float = BEAT_SIGMA) -> float:
    """Mean over music beats (frames) of exp(-d^2 / (2 sigma^2)), d = frames to the nearest
    motion beat; music beats >= ``length`` (the number of speed samples, N - 1) are dropped.
    NaN when there is no music beat, 0 when there is no motion beat."""
    mb = np.asarray(music_beats, np.float64).reshape(-1)
    if length is not None:
        mb = mb[mb < length]
    if not len(mb):
        return float("nan")
    db = np.sort(np.asarray(motion_beat_frames, np.float64).reshape(-1))
    if not len(db):
        return 0.0
    pos = np.clip(np.searchsorted(db, mb), 1, max(len(db) - 1, 1))
    d = np.minimum(np.abs(mb - db[pos - 1]), np.abs(mb - db[np.minimum(pos, len(db) - 1)]))
    return float(np.exp(-(d**2) / (2 * sigma**2)).mean())


def read_beat_file(path: Path, fps: float = 60.0) -> np.ndarray:
    """A beat file -> (B,) int frames at ``fps``. The file holds beat times in seconds: numbers
    separated by whitespace, commas or newlines (``#`` starts a comment), or a JSON list."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AistppError(f"cannot read beat file ({exc})", path) from None
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    try:
        times = np.array([float(t) for t in body.replace(",", " ").replace("[", " ").replace("]", " ").split()])
    except ValueError:
        raise AistppError("a beat file holds beat times in seconds (numbers), found text", path) from None
    if not np.isfinite(times).all() or (times < 0).any():
        raise AistppError("beat times must be finite and >= 0 seconds", path)
    return np.unique(np.round(times * fps).astype(np.int64))


def music_tempo(tag: str) -> float | None:
    """The nominal tempo (BPM) of an AIST music tag (``mJS2`` -> 100), None when not one."""
    if len(tag) == 4 and tag[0] == "m" and tag[3].isdigit():
        if tag[1:3] == "HO":
            return 110.0 + 5 * int(tag[3])
        if tag[1:3] in ("BR", "PO", "LO", "MH", "LH", "WA", "KR", "JS", "JB"):
            return 80.0 + 10 * int(tag[3])
    return None


def music_beats_from_audio(path: Path, fps: float = 60.0, start_bpm: float | None = None) -> np.ndarray:
    """(B,) int frames at ``fps`` of the beats librosa tracks in a music file (``start_bpm``:
    the tracker's initial tempo, default the tempo of the file's AIST music tag, else 120)."""
    try:
        import librosa
    except ImportError:
        raise AistppError("music beats from audio need librosa: pip install 'aistpp[music]' "
                          "(or pass a beat file)", path) from None
    sr = int(round(fps * HOP))
    try:
        y, _ = librosa.load(str(path), sr=sr)
    except Exception as exc:  # noqa: BLE001 - audio decoders raise many types
        raise AistppError(f"cannot decode music ({exc})", path) from None
    envelope = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    start_bpm = start_bpm or music_tempo(Path(path).stem) or 120.0
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=HOP, start_bpm=start_bpm,
                                       tightness=100)
    return np.asarray(beats, np.int64)

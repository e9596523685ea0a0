"""Recording files: a compact stereo WAV writer, G.711 μ-law codec and a WAV reader.

The simulated PBX records a call as a *timeline of who is audible when*; when the recording
stops, :func:`write_tone_wav` turns it into a real file in one pass: each party's speech is a
sine tone (the customer's on the left channel, the agents' on the right), silence elsewhere.

Format: **8 kHz, 2 channels, G.711 μ-law in WAV (format tag 7)** by default.

* It is what the telephone network carries (PCMU, 64 kbit/s per direction). A real adapter that
  records RTP (rtpengine) can store the payload bytes as they came, with no transcoding and no
  loss; the simulated PBX produces the same format so that downstream code (storage, playback,
  QA inspection) sees one format.
* It is half the size of 16-bit PCM: 16 kB/s stereo, ≈58 MB per hour; 400-number tenants keep
  every call.
* Players and tools read it (browsers via their media stacks, sox, ffmpeg, and :func:`read_wav`
  here). :attr:`AudioEncoding.PCM16` is available where a consumer needs linear PCM (Python's
  ``wave`` module, some browsers).

Audio is synthesised with numpy from per-tone one-second tables (integer frequencies repeat
exactly every second at 8 kHz), encoded once, then tiled block by block: writing an hour of
audio takes tens of milliseconds and constant memory.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "AudioEncoding",
    "ToneSegment",
    "WavInfo",
    "dominant_frequency",
    "mulaw_decode",
    "mulaw_encode",
    "read_wav",
    "read_wav_info",
    "write_tone_wav",
]

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_ALAW = 6
WAVE_FORMAT_MULAW = 7
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

_BLOCK_FRAMES = 65536


class AudioEncoding(enum.StrEnum):
    MULAW = "mulaw"
    """G.711 μ-law, 8 bits per sample, WAV format tag 7."""
    PCM16 = "pcm16"
    """Linear 16-bit little-endian PCM, WAV format tag 1."""

    @property
    def bytes_per_sample(self) -> int:
        return 1 if self is AudioEncoding.MULAW else 2


# --------------------------------------------------------------------------------------------
# G.711 μ-law (ITU-T G.711, the classic Sun g711.c algorithm: bias 0x84, clip 32635)
# --------------------------------------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635
_EXP_LUT = np.array([max(0, i.bit_length() - 1) for i in range(256)], dtype=np.int32)


def mulaw_encode(samples: np.ndarray) -> np.ndarray:
    """Linear 16-bit samples (any integer or float array in int16 range) → μ-law bytes (uint8)."""
    x = np.asarray(samples).astype(np.int32)
    sign = np.where(x < 0, 0x80, 0).astype(np.int32)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = _EXP_LUT[(mag >> 7) & 0xFF]
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def _build_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


_DECODE_TABLE = _build_decode_table()


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """μ-law bytes → linear 16-bit samples (int16)."""
    return _DECODE_TABLE[np.asarray(codes, dtype=np.uint8)]


_MULAW_SILENCE = int(mulaw_encode(np.zeros(1, dtype=np.int16))[0])  # 0xFF


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToneSegment:
    """From ``start`` to ``end`` (seconds from the file start) the left channel carries the sum of
    the ``left`` tones (Hz) and the right channel the sum of the ``right`` tones."""

    start: float
    end: float
    left: tuple[float, ...] = ()
    right: tuple[float, ...] = ()


def _wav_header(*, encoding: AudioEncoding, channels: int, sample_rate: int, frames: int) -> bytes:
    bps = encoding.bytes_per_sample
    block_align = channels * bps
    data_size = frames * block_align
    pad = data_size & 1
    if encoding is AudioEncoding.PCM16:
        fmt = struct.pack(
            "<HHIIHH", WAVE_FORMAT_PCM, channels, sample_rate, sample_rate * block_align, block_align, 16
        )
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    else:
        # Non-PCM formats carry cbSize and a 'fact' chunk (sample frames per channel).
        fmt = struct.pack(
            "<HHIIHHH",
            WAVE_FORMAT_MULAW,
            channels,
            sample_rate,
            sample_rate * block_align,
            block_align,
            8,
            0,
        )
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, frames)
    riff_size = 4 + len(chunks) + 8 + data_size + pad
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunks + b"data" + struct.pack("<I", data_size)


class _ToneTables:
    """One second of each tone mix, already encoded, per channel: tiles seamlessly."""

    def __init__(self, sample_rate: int, encoding: AudioEncoding, amplitude: float) -> None:
        self.sample_rate = sample_rate
        self.encoding = encoding
        self.amplitude = amplitude
        self._cache: dict[tuple[float, ...], np.ndarray] = {}
        self._n = np.arange(sample_rate, dtype=np.float64)

    def table(self, freqs: tuple[float, ...]) -> np.ndarray:
        key = tuple(sorted(set(freqs)))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        wave = np.zeros(self.sample_rate, dtype=np.float64)
        for f in key:
            wave += np.sin(2.0 * np.pi * f * self._n / self.sample_rate)
        if key:
            # Each tone at ``amplitude`` of full scale; a mix is scaled to stay below clipping.
            wave *= self.amplitude * min(1.0, 0.9 / (self.amplitude * len(key)))
        pcm = np.round(wave * 32767.0).astype(np.int16)
        out = mulaw_encode(pcm) if self.encoding is AudioEncoding.MULAW else pcm
        self._cache[key] = out
        return out


def write_tone_wav(
    path: str | os.PathLike[str],
    *,
    duration: float,
    segments: Iterable[ToneSegment],
    sample_rate: int = 8000,
    encoding: AudioEncoding = AudioEncoding.MULAW,
    amplitude: float = 0.3,
) -> int:
    """Write a stereo WAV of ``duration`` seconds: tones in ``segments``, silence elsewhere.

    Segments are clipped to the file and may come in any order (later ones win where they
    overlap). Tones should have integer frequencies to tile without phase jumps. The file is
    written next to its final name and renamed into place, so readers never see half a file.
    Returns the file size in bytes.
    """
    sr = int(sample_rate)
    frames = max(0, round(duration * sr))
    dtype = np.uint8 if encoding is AudioEncoding.MULAW else np.dtype("<i2")
    silence = _MULAW_SILENCE if encoding is AudioEncoding.MULAW else 0
    tables = _ToneTables(sr, encoding, amplitude)

    # Resolve segments into sample ranges; the track is "silence" outside them.
    spans: list[tuple[int, int, tuple[float, ...], tuple[float, ...]]] = []
    for seg in sorted(segments, key=lambda s: s.start):
        i0 = max(0, min(frames, round(seg.start * sr)))
        i1 = max(0, min(frames, round(seg.end * sr)))
        if i1 > i0 and (seg.left or seg.right):
            spans.append((i0, i1, seg.left, seg.right))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    header = _wav_header(encoding=encoding, channels=2, sample_rate=sr, frames=frames)
    block = np.empty((min(frames, _BLOCK_FRAMES) or 1, 2), dtype=dtype)
    with open(tmp, "wb") as fh:
        fh.write(header)
        pos = 0
        for i0, i1, left, right in spans:
            pos = _write_silence(fh, block, pos, i0, silence)
            lt, rt = tables.table(left), tables.table(right)
            while pos < i1:
                n = min(i1 - pos, _BLOCK_FRAMES)
                idx = np.arange(pos, pos + n) % sr
                out = block[:n]
                out[:, 0] = lt[idx]
                out[:, 1] = rt[idx]
                fh.write(out.tobytes())
                pos += n
        _write_silence(fh, block, pos, frames, silence)
        if (frames * 2 * encoding.bytes_per_sample) & 1:
            fh.write(b"\x00")
    os.replace(tmp, path)
    return path.stat().st_size


def _write_silence(fh: object, block: np.ndarray, pos: int, until: int, silence: int) -> int:
    write = fh.write  # type: ignore[attr-defined]
    while pos < until:
        n = min(until - pos, _BLOCK_FRAMES)
        out = block[:n]
        out.fill(silence)
        write(out.tobytes())
        pos += n
    return pos


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WavInfo:
    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    frames: int
    data_offset: int
    data_size: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def encoding(self) -> str:
        return {WAVE_FORMAT_PCM: "pcm", WAVE_FORMAT_MULAW: "mulaw", WAVE_FORMAT_ALAW: "alaw"}.get(
            self.format_tag, f"format_{self.format_tag:#x}"
        )


def read_wav_info(path: str | os.PathLike[str]) -> WavInfo:
    """Parse a RIFF/WAVE header (any format tag). Raises ``ValueError`` on a malformed file."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a RIFF/WAVE file")
        fmt: tuple[int, int, int, int, int] | None = None
        offset = 12
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise ValueError(f"{path}: no data chunk")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            offset += 8
            if cid == b"fmt ":
                body = fh.read(size)
                if len(body) < 16:
                    raise ValueError(f"{path}: short fmt chunk")
                tag, channels, rate, _byte_rate, align, bits = struct.unpack("<HHIIHH", body[:16])
                if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = (tag, channels, rate, align, bits)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError(f"{path}: data chunk before fmt chunk")
                tag, channels, rate, align, bits = fmt
                frames = size // align if align else 0
                return WavInfo(tag, channels, rate, bits, frames, offset, size)
            else:
                fh.seek(size, os.SEEK_CUR)
            offset += size + (size & 1)
            if size & 1:
                fh.seek(1, os.SEEK_CUR)


def read_wav(path: str | os.PathLike[str]) -> tuple[WavInfo, np.ndarray]:
    """Read a PCM (8/16-bit) or μ-law WAV as int16 samples shaped ``(frames, channels)``."""
    info = read_wav_info(path)
    with open(path, "rb") as fh:
        fh.seek(info.data_offset)
        raw = fh.read(info.data_size)
    count = info.frames * info.channels
    if info.format_tag == WAVE_FORMAT_MULAW and info.bits_per_sample == 8:
        samples = mulaw_decode(np.frombuffer(raw, dtype=np.uint8, count=count))
    elif info.format_tag == WAVE_FORMAT_PCM and info.bits_per_sample == 16:
        samples = np.frombuffer(raw, dtype="<i2", count=count).astype(np.int16)
    elif info.format_tag == WAVE_FORMAT_PCM and info.bits_per_sample == 8:
        samples = ((np.frombuffer(raw, dtype=np.uint8, count=count).astype(np.int16) - 128) << 8).astype(
            np.int16
        )
    else:
        raise ValueError(f"{path}: unsupported WAV encoding {info.encoding} ({info.bits_per_sample} bit)")
    return info, samples.reshape(info.frames, info.channels)


def dominant_frequency(samples: Sequence[float] | np.ndarray, sample_rate: int) -> float:
    """The strongest frequency (Hz) in a mono signal, by FFT (for checks and QA tooling)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    spectrum[0] = 0.0
    return float(np.fft.rfftfreq(x.size, 1.0 / sample_rate)[int(np.argmax(spectrum))])

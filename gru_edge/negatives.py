"""Negative audio: hours of recordings a keyword spotter must not fire on (speech, music, TV,
noise), of any length and format, read in blocks and split by recording group.

Each folder given is a corpus. Its groups are its first-level subfolders (a speaker, a TTS
voice, a kind of sound) or, without subfolders, its files; whole groups, never windows, go to
train, validation or test, so no speaker is heard in two splits. A corpus of fewer than three
groups is cut in time instead (the first part of each recording trains). Each recording is
decoded once, in blocks, into an int16 cache file that is memory-mapped afterwards: training
cuts windows out of hours of audio without ever holding it decoded in memory.

Keyword spans: a corpus may hold `word_alignments.json` ({utterance id (the file's stem):
[[word, start s, end s], ...]}, as the LibriSpeech part of the shared negatives has). The spans
of keyword words in it are kept with each recording, so that training ignores those frames
and evaluation counts a detection inside one as neither a hit nor a false accept.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gru_edge.atomicfile import atomic_path
from gru_edge.audio import float_to_int16, int16_to_float, read_audio
from gru_edge.datasets import fit_clip
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif"}
ALIGNMENTS = "word_alignments.json"
SPLITS = ("train", "validation", "test")
BLOCK_SECONDS = 30.0  # decoding block: bounds memory whatever a recording's length
CACHE_VERSION = 1


class NegativeAudioError(GruEdgeError):
    """Negative audio that cannot be used: the message names the folder or file."""


class KeywordSpan(NamedTuple):
    """Where a keyword is spoken inside a recording (samples at the front end's rate)."""

    keyword: str
    start: int
    end: int


@dataclass(frozen=True)
class Recording:
    """One file's part of one split: samples [start, end) of its decoded audio."""

    path: Path
    corpus: str
    group: str
    split: str
    start: int
    end: int
    spans: tuple[KeywordSpan, ...] = ()

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class NegativeAudio:
    """The recordings of every corpus, each assigned to a split, and their decoded cache."""

    recordings: list[Recording]
    cache_dir: Path
    sample_rate: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    _mapped: dict[Path, np.ndarray] = field(default_factory=dict, repr=False)

    def split(self, name: str) -> list[Recording]:
        return [r for r in self.recordings if r.split == name]

    def seconds(self, name: str) -> float:
        return sum(r.length for r in self.split(name)) / self.sample_rate

    def describe(self) -> str:
        corpora = sorted({r.corpus for r in self.recordings})
        hours = ", ".join(f"{s} {self.seconds(s) / 60:.1f} min" for s in SPLITS)
        return f"{len(corpora)} corpora ({', '.join(corpora)}): {hours}"

    def samples(self, recording: Recording) -> np.ndarray:
        """The int16 samples of `recording`'s part (a view of the memory-mapped cache)."""
        if recording.path not in self._mapped:
            cache = cache_file(recording.path, self.cache_dir, self.sample_rate)
            self._mapped[recording.path] = np.memmap(cache, dtype=np.int16, mode="r")
        return self._mapped[recording.path][recording.start : recording.end]

    def window(self, recording: Recording, offset: int, length: int) -> np.ndarray:
        """`length` float32 samples from `offset` inside the recording's part."""
        return int16_to_float(self.samples(recording)[offset : offset + length])


def load_negatives(
    folders: Iterable[str | Path],
    keywords: Sequence[str],
    sample_rate: int,
    cache_dir: str | Path | None = None,
    validation_percentage: float = 15.0,
    testing_percentage: float = 15.0,
) -> NegativeAudio:
    """Indexes the corpora in `folders`, splits them, and decodes what is not cached yet.
    Unreadable files are skipped and listed in `skipped`, with the reason."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    recordings, skipped = [], []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise NegativeAudioError(f"negative audio folder {folder} does not exist")
        files = audio_files(folder)
        if not files:
            raise NegativeAudioError(
                f"negative audio folder {folder} holds no audio files ({sorted(AUDIO_SUFFIXES)})"
            )
        spans = _keyword_spans(folder, keywords, sample_rate)
        lengths = {}
        for path in files:
            try:
                lengths[path] = len(_decoded(path, cache_dir, sample_rate))
            except GruEdgeError as e:
                skipped.append((str(path), str(e)))
        recordings += _split_corpus(
            folder, lengths, spans, validation_percentage, testing_percentage
        )
    return NegativeAudio(recordings, cache_dir, sample_rate, skipped)


def audio_files(folder: Path) -> list[Path]:
    """The audio files under `folder`, at any depth; hidden ones (a writer's unfinished
    `.name.partial-PID.wav`) are not audio yet."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gru_edge" / "audio"


def cache_file(path: Path, cache_dir: Path, sample_rate: int) -> Path:
    """Where `path`'s decoded audio lives: keyed by the file's identity and the rate."""
    stat = path.stat()
    key = f"{CACHE_VERSION}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{sample_rate}"
    return cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.int16"


def _decoded(path: Path, cache_dir: Path, sample_rate: int) -> np.ndarray:
    """The cached int16 audio of `path`, decoding it in blocks first if needed."""
    cache = cache_file(path, cache_dir, sample_rate)
    if not cache.is_file():
        soundfile = require("soundfile", "audio", f"reading negative audio ({path.name})")
        try:
            with soundfile.SoundFile(str(path)) as audio, atomic_path(cache) as temporary:
                resampler = _resampler(audio.samplerate, sample_rate, path)
                with open(temporary, "wb") as out:
                    block = max(1, int(BLOCK_SECONDS * audio.samplerate))
                    for samples in audio.blocks(blocksize=block, dtype="float32", always_2d=True):
                        out.write(_to_int16(resampler(samples.mean(axis=1), last=False)))
                    out.write(_to_int16(resampler(np.zeros(0, np.float32), last=True)))
        except (RuntimeError, soundfile.SoundFileError) as e:
            raise NegativeAudioError(f"{path}: cannot decode it ({e})") from None
    return np.memmap(cache, dtype=np.int16, mode="r") if cache.stat().st_size else np.zeros(0)


def _resampler(rate: int, sample_rate: int, path: Path):
    if rate == sample_rate:
        return lambda block, last: block
    soxr = require("soxr", "audio", f"{path}: is {rate} Hz; resampling it")
    stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    return lambda block, last: stream.resample_chunk(block, last=last)


def _to_int16(samples: np.ndarray) -> bytes:
    if not np.isfinite(samples).all():
        raise NegativeAudioError("NaN or infinite samples")
    return float_to_int16(samples).astype("<i2").tobytes()


def _group(folder: Path, path: Path) -> str:
    relative = path.relative_to(folder)
    return relative.parts[0] if len(relative.parts) > 1 else relative.name


def _split_corpus(
    folder: Path,
    lengths: dict[Path, int],
    spans: dict[str, tuple[KeywordSpan, ...]],
    validation_percentage: float,
    testing_percentage: float,
) -> list[Recording]:
    """Whole groups to each split (ordered by a stable hash of their names, each split
    getting at least one group); fewer than three groups: every recording cut in time."""
    groups = sorted({_group(folder, p) for p in lengths})
    recordings = []
    if len(groups) >= 3:
        order = sorted(groups, key=lambda g: hashlib.sha1(g.encode()).hexdigest())
        n_test = max(1, round(len(order) * testing_percentage / 100))
        n_validation = max(1, round(len(order) * validation_percentage / 100))
        split_of = {g: "test" for g in order[:n_test]}
        split_of |= {g: "validation" for g in order[n_test : n_test + n_validation]}
        for path, length in lengths.items():
            group = _group(folder, path)
            split = split_of.get(group, "train")
            recordings.append(
                Recording(path, folder.name, group, split, 0, length, spans.get(path.stem, ()))
            )
        return recordings
    train_end = 1 - (validation_percentage + testing_percentage) / 100
    bounds = {
        "train": (0.0, train_end),
        "validation": (train_end, train_end + validation_percentage / 100),
        "test": (train_end + validation_percentage / 100, 1.0),
    }
    for path, length in lengths.items():
        for split, (low, high) in bounds.items():
            start, end = int(length * low), int(length * high)
            inside = tuple(
                KeywordSpan(s.keyword, s.start - start, s.end - start)
                for s in spans.get(path.stem, ())
                if start <= s.start < end
            )
            if end > start:
                recordings.append(
                    Recording(path, folder.name, _group(folder, path), split, start, end, inside)
                )
    return recordings


def normalized_word(word: str) -> str:
    """An alignment's word as a keyword would be written: "Stop", "stop(2)" -> "stop"."""
    return re.sub(r"\(\d+\)$", "", word.strip().lower())


def _keyword_spans(
    folder: Path, keywords: Sequence[str], sample_rate: int
) -> dict[str, tuple[KeywordSpan, ...]]:
    path = folder / ALIGNMENTS
    if not path.is_file():
        return {}
    try:
        alignments = json.loads(path.read_text(encoding="utf-8"))
        wanted = set(keywords)
        return {
            utterance: tuple(
                KeywordSpan(
                    normalized_word(word),
                    int(math.floor(start * sample_rate)),
                    int(math.ceil(end * sample_rate)),
                )
                for word, start, end in words
                if normalized_word(word) in wanted
            )
            for utterance, words in alignments.items()
        }
    except (ValueError, TypeError, AttributeError) as e:
        raise NegativeAudioError(
            f"{path}: not {{utterance: [[word, start, end], ...]}} ({e})"
        ) from None


def keyword_free(spans: Sequence[KeywordSpan], start: int, end: int, margin: int) -> bool:
    """Whether samples [start, end) are at least `margin` away from every keyword span."""
    return all(s.end + margin <= start or end <= s.start - margin for s in spans)


def load_windows(folders: Iterable[str | Path], length: int, sample_rate: int) -> np.ndarray:
    """Every audio file under `folders` (mined hard negatives: short windows) as int16 rows of
    `length` samples, each padded or cropped to its loudest part like a clip."""
    rows = []
    for folder in folders:
        files = audio_files(Path(folder))
        if not files:
            raise NegativeAudioError(f"hard-negative folder {folder} holds no audio files")
        rows += [float_to_int16(fit_clip(read_audio(p, sample_rate), length)) for p in files]
    return np.stack(rows) if rows else np.zeros((0, length), np.int16)

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
from gru_edge.config import DataConfig
from gru_edge.datasets import fit_clip
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require
from gru_edge.modelfile import ModelMetadata

_EMPTY = np.zeros(0, np.int16)
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

    def split(self, name: str) -> list[Recording]:
        return [r for r in self.recordings if r.split == name]

    def seconds(self, name: str) -> float:
        return sum(r.length for r in self.split(name)) / self.sample_rate

    def describe(self) -> str:
        corpora = sorted({r.corpus for r in self.recordings})
        hours = ", ".join(f"{s} {self.seconds(s) / 60:.1f} min" for s in SPLITS)
        return f"{len(corpora)} corpora ({', '.join(corpora)}): {hours}"

    def samples(self, recording: Recording, offset: int = 0, length: int | None = None):
        """int16 samples of `recording`'s part from `offset` (all the rest, or `length`), read
        from its cache file: no file stays open, however many recordings a corpus has."""
        available = max(0, recording.length - offset)
        count = available if length is None else min(length, available)
        cache = cache_file(recording.path, self.cache_dir, self.sample_rate)
        start = (recording.start + offset) * 2
        return np.fromfile(cache, dtype="<i2", count=count, offset=start) if count else _EMPTY

    def window(self, recording: Recording, offset: int, length: int) -> np.ndarray:
        """`length` float32 samples (fewer at the end) from `offset` inside the part."""
        return int16_to_float(self.samples(recording, offset, length))


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
                lengths[path] = _decoded_length(path, cache_dir, sample_rate)
            except GruEdgeError as e:
                skipped.append((str(path), str(e)))
        if not lengths:
            raise NegativeAudioError(
                f"no file of negative audio folder {folder} could be decoded "
                f"(the first: {skipped[-1][1]})"
            )
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


def load_for_model(folders: Iterable[str | Path], metadata: ModelMetadata) -> NegativeAudio:
    """The negative audio in `folders` split as the model's own run split it (its metadata
    says how; the default split for a model exported before it did), so that evaluation and
    mining never take training audio for held-out audio or the reverse."""
    defaults = DataConfig()
    validation, testing = metadata.calibration.get(
        "negatives_split",
        (defaults.negatives_validation_percentage, defaults.negatives_testing_percentage),
    )
    return load_negatives(
        folders,
        metadata.keywords,
        metadata.features.sample_rate,
        validation_percentage=validation,
        testing_percentage=testing,
    )


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gru_edge" / "audio"


def cache_file(path: Path, cache_dir: Path, sample_rate: int) -> Path:
    """Where `path`'s decoded audio lives: keyed by the file's identity and the rate."""
    stat = path.stat()
    key = f"{CACHE_VERSION}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{sample_rate}"
    return cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.int16"


def _decoded_length(path: Path, cache_dir: Path, sample_rate: int) -> int:
    """How many samples `path` holds once decoded to the cache (decoding it in blocks first
    if it is not there yet)."""
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
    return cache.stat().st_size // 2


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
            inside = tuple(  # a span the cut goes through is kept, cut, on both sides
                KeywordSpan(s.keyword, max(s.start, start) - start, min(s.end, end) - start)
                for s in spans.get(path.stem, ())
                if overlaps(s.start, s.end, start, end)
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


def overlaps(start: float, end: float, other_start: float, other_end: float) -> bool:
    """Whether [start, end) and [other_start, other_end) share a moment."""
    return start < other_end and other_start < end


def load_windows(folders: Iterable[str | Path], length: int, sample_rate: int) -> np.ndarray:
    """Every audio file under `folders` (mined hard negatives: short windows) as int16 rows of
    `length` samples, each padded or cropped to its loudest part like a clip."""
    rows = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise NegativeAudioError(
                f"hard-negative folder {folder} does not exist (mine one with `gru-edge mine`)"
            )
        files = audio_files(Path(folder))
        if not files:
            raise NegativeAudioError(f"hard-negative folder {folder} holds no audio files")
        rows += [float_to_int16(fit_clip(read_audio(p, sample_rate), length)) for p in files]
    return np.stack(rows) if rows else np.zeros((0, length), np.int16)

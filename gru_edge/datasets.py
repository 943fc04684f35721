"""Datasets: which clips make which class in which split, decoded once into memory.

No TensorFlow here: training feeds these arrays to tf.data, evaluation streams them through
the device runtime.

Two layouts are read:

- **Folders of words** (the Speech Commands layout, or a user's own recordings): one folder per
  word, optionally `_background_noise_/` with long noise recordings, and
  `validation_list.txt` / `testing_list.txt` naming the clips of those splits. Without the
  lists, the dataset's own rule splits by a hash of the speaker id (the file name up to
  `_nohash_`), so one speaker never lands in two splits. The chosen words are classes; every
  other word (and a `_unknown_/` folder) feeds `_unknown_`; `_silence_` clips are cut from the
  background noise. Both are sized like the dataset's reference tooling: a percentage of the
  split's keyword clips.
- **The official test archive** (`_silence_/`, `_unknown_/` and one folder per keyword, no
  lists): every clip is a test clip with its folder's label.

Unreadable files (clips and noise recordings alike) are reported with their path and reason,
counted, and skipped.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gru_edge.audio import float_to_int16, read_audio
from gru_edge.config import DataConfig
from gru_edge.errors import AudioError, GruEdgeError

SILENCE, UNKNOWN = "_silence_", "_unknown_"
NOISE_FOLDER = "_background_noise_"
SPLITS = ("train", "validation", "test")
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
_MAX_CLIPS_PER_CLASS = 2**27 - 1  # the constant of the reference split rule


class DatasetError(GruEdgeError):
    """A dataset that cannot be used as it is: the message says what to change."""


@dataclass(frozen=True)
class ClipRef:
    """One clip of a split: a file, or (path None) silence cut from background noise."""

    label: str
    path: Path | None = None


@dataclass
class DatasetIndex:
    """What the folder holds: class labels in model order, the clips of each split."""

    root: Path
    layout: str  # "folders" or "test_archive"
    labels: tuple[str, ...]
    splits: dict[str, list[ClipRef]]
    noise_files: list[Path] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            split: dict(Counter(c.label for c in clips)) for split, clips in self.splits.items()
        }


@dataclass
class Clips:
    """Decoded clips of one split: int16 audio (n, clip_samples) and label indices."""

    audio: np.ndarray
    labels: np.ndarray
    skipped: list[tuple[str, str]]  # (path, reason) of the files that could not be read

    def __len__(self) -> int:
        return len(self.labels)


def which_split(path: str | Path, validation_percentage: float, testing_percentage: float) -> str:
    """The Speech Commands split rule: a stable hash of the speaker id picks the split."""
    speaker = re.sub(r"_nohash_.*$", "", Path(path).name)
    digest = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percentage = (digest % (_MAX_CLIPS_PER_CLASS + 1)) * (100.0 / _MAX_CLIPS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "test"
    return "train"


def index_dataset(root: str | Path, config: DataConfig) -> DatasetIndex:
    """Finds the layout of `root` and assigns every clip a label and a split."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder {root} does not exist (or is not a folder)")
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
    if not any(_audio_files(p) for p in folders.values()):
        raise DatasetError(
            f"data folder {root} holds no audio: expected one folder of WAV "
            f"files per word (the Speech Commands layout)"
        )
    is_archive = {SILENCE, UNKNOWN} <= set(folders) and NOISE_FOLDER not in folders
    index = _index_test_archive if is_archive else _index_word_folders
    return index(root, folders, config)


def _index_test_archive(root: Path, folders: dict[str, Path], config: DataConfig):
    _require_words(root, folders, config.words)
    labels = (SILENCE, UNKNOWN, *config.words)
    clips = [ClipRef(label, path) for label in labels for path in _audio_files(folders[label])]
    return DatasetIndex(
        root, "test_archive", labels, {"train": [], "validation": [], "test": clips}
    )


def _index_word_folders(root: Path, folders: dict[str, Path], config: DataConfig):
    _require_words(root, folders, config.words)
    listed = {split: read_list(root / name) for split, name in LIST_FILES.items()}
    use_lists = any(lst is not None for lst in listed.values())

    def split_of(path: Path) -> str:
        if not use_lists:
            return which_split(path, config.validation_percentage, config.testing_percentage)
        relative = path.relative_to(root).as_posix()
        return next((s for s, lst in listed.items() if lst and relative in lst), "train")

    keywords = {split: [] for split in SPLITS}
    unknown_pool = {split: [] for split in SPLITS}
    real_silence = {split: [] for split in SPLITS}
    for name, folder in folders.items():
        if name == NOISE_FOLDER:
            continue
        for path in _audio_files(folder):
            if name in config.words:
                keywords[split_of(path)].append(ClipRef(name, path))
            elif name == SILENCE:
                real_silence[split_of(path)].append(ClipRef(SILENCE, path))
            else:
                unknown_pool[split_of(path)].append(ClipRef(UNKNOWN, path))

    rng = np.random.default_rng(config.seed)
    splits = {}
    for split in SPLITS:
        n_silence = math.ceil(len(keywords[split]) * config.silence_percentage / 100)
        n_unknown = math.ceil(len(keywords[split]) * config.unknown_percentage / 100)
        pool = unknown_pool[split]
        chosen = [pool[i] for i in sorted(rng.permutation(len(pool))[:n_unknown])]
        splits[split] = (
            keywords[split] + real_silence[split] + chosen + [ClipRef(SILENCE)] * n_silence
        )
    noise_files = _audio_files(folders[NOISE_FOLDER]) if NOISE_FOLDER in folders else []
    return DatasetIndex(root, "folders", (SILENCE, UNKNOWN, *config.words), splits, noise_files)


def _require_words(root: Path, folders: dict[str, Path], words: tuple[str, ...]) -> None:
    empty = [w for w in words if w not in folders or not _audio_files(folders[w])]
    if empty:
        found = sorted(n for n in folders if n != NOISE_FOLDER)
        raise DatasetError(
            f"{root}: no clips for keyword(s) {empty}; choose words that have "
            f"a folder of clips (--words or data.words); folders: {found}"
        )


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def read_list(path: Path) -> set[str] | None:
    """The clips a list file names (relative paths), or None without the file."""
    if not path.is_file():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _noise_of_split(noise: np.ndarray, split: str, config: DataConfig) -> np.ndarray:
    """The part of a background-noise recording that belongs to `split`: each is cut in time
    by the split percentages (training first), so silence and noise heard in validation and
    test were never heard in training."""
    train_end = 100 - config.validation_percentage - config.testing_percentage
    low, high = {
        "train": (0, train_end),
        "validation": (train_end, train_end + config.validation_percentage),
        "test": (train_end + config.validation_percentage, 100),
    }[split]
    return noise[int(len(noise) * low / 100) : int(len(noise) * high / 100)]


def synthetic_noise(seconds: float, sample_rate: int, seed: int) -> list[np.ndarray]:
    """White and pink noise, for datasets without `_background_noise_/`."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(int(seconds * sample_rate))
    pink = pink_noise(len(white), rng)
    return [(x / np.abs(x).max() * 0.5).astype(np.float32) for x in (white, pink)]


def pink_noise(length: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1/f: the colour of most rooms' and microphones' floor."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    return np.fft.irfft(spectrum, n=length)


@dataclass
class Dataset:
    """A dataset ready for training: its index, the decoded clips and noise of every split,
    and the noise files that could not be read."""

    index: DatasetIndex
    clips: dict[str, Clips]
    noise: dict[str, list[np.ndarray]]
    noise_source: str
    noise_skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.index.labels

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Every file that could not be read, noise recordings first, with the reason."""
        return self.noise_skipped + [
            item for clips in self.clips.values() for item in clips.skipped
        ]


def load_dataset(
    root: str | Path, config: DataConfig, sample_rate: int, splits: tuple[str, ...] = SPLITS
) -> Dataset:
    """Indexes `root`, then decodes the clips of `splits` once (noise first: silence is cut
    from it); a split's clips and noise are the same whichever other splits are loaded."""
    index = index_dataset(root, config)
    if "train" in splits and not any(ref.path for ref in index.splits["train"]):
        raise DatasetError(  # a dataset only evaluated on may list every clip as a test clip
            f"{root}: no training clips of {list(config.words)} (all are listed "
            f"in validation_list.txt / testing_list.txt)"
        )
    recordings, noise_skipped = [], []
    for path in index.noise_files:  # a bad noise file is skipped, as a bad clip is
        try:
            recordings.append(read_audio(path, sample_rate))
        except AudioError as e:
            noise_skipped.append((str(path), str(e)))
    if recordings:
        noise = {split: [_noise_of_split(n, split, config) for n in recordings] for split in splits}
        unreadable = f" ({len(noise_skipped)} unreadable, skipped)" if noise_skipped else ""
        source = f"{len(recordings)} files in {NOISE_FOLDER}/{unreadable}"
    else:
        noise = {
            split: synthetic_noise(60.0, sample_rate, config.seed + SPLITS.index(split))
            for split in splits
        }
        missing = "no readable file in" if index.noise_files else "no folder"
        source = f"generated white and pink noise ({missing} {NOISE_FOLDER}/)"
    clips = {split: load_clips(index, split, config, sample_rate, noise[split]) for split in splits}
    return Dataset(index, clips, noise, source, noise_skipped)


def word_end(clip: np.ndarray, sample_rate: int) -> float:
    """Where the speech of a clip ends (s): the last 10 ms within 20 dB of its loudest."""
    hop = sample_rate // 100
    energy = np.mean(clip[: len(clip) // hop * hop].reshape(-1, hop) ** 2, axis=1)
    loud = np.nonzero(energy >= energy.max() * 0.01)[0]
    return (loud[-1] + 1) * hop / sample_rate


def fit_clip(samples: np.ndarray, length: int) -> np.ndarray:
    """Pads a short clip with silence at the end; crops a long one to its loudest window."""
    if len(samples) <= length:
        return np.pad(samples, (0, length - len(samples)))
    energy = np.concatenate(([0.0], np.cumsum(samples.astype(np.float64) ** 2)))
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return samples[start : start + length]


def load_clips(
    index: DatasetIndex,
    split: str,
    config: DataConfig,
    sample_rate: int,
    noise: list[np.ndarray],
    workers: int = 8,
) -> Clips:
    """Decodes the clips of `split` once, fitted to the clip length, as int16.

    Silence clips are noise segments at a level drawn from `config.silence_dbfs` (seeded).
    Files that cannot be read are skipped and listed in `Clips.skipped`.
    """
    length = round(config.clip_ms * sample_rate / 1000)
    refs = index.splits[split]
    files = [ref.path for ref in refs if ref.path is not None]

    def decode(path: Path) -> np.ndarray | str:
        try:
            return fit_clip(read_audio(path, sample_rate), length)
        except AudioError as e:
            return str(e)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = dict(zip(files, pool.map(decode, files), strict=True))
    rng = np.random.default_rng([config.seed, SPLITS.index(split)])
    audio, labels, skipped = [], [], []
    for ref in refs:
        if ref.path is None:
            samples = _silence_clip(noise, length, config.silence_dbfs, rng, split)
        elif isinstance(decoded[ref.path], str):
            skipped.append((str(ref.path), decoded[ref.path]))
            continue
        else:
            samples = decoded[ref.path]
        audio.append(float_to_int16(samples))
        labels.append(index.labels.index(ref.label))
    audio = np.stack(audio) if audio else np.zeros((0, length), np.int16)
    return Clips(audio, np.asarray(labels, np.int32), skipped)


def _silence_clip(
    noise: list[np.ndarray],
    length: int,
    dbfs: tuple[float, float],
    rng: np.random.Generator,
    split: str,
) -> np.ndarray:
    usable = [n for n in noise if len(n) >= length]
    if not usable:
        raise DatasetError(
            f"the {split} part of every background noise recording is shorter than one clip, "
            f"so no silence clip can be cut from it (each recording is cut in time by the "
            f"split percentages); add longer recordings to {NOISE_FOLDER}/"
        )
    source = usable[rng.integers(len(usable))]
    start = rng.integers(len(source) - length + 1)
    segment = source[start : start + length].astype(np.float64)
    rms = np.sqrt(np.mean(segment**2))
    target = 10 ** (rng.uniform(*dbfs) / 20)
    return segment * (target / rms) if rms > 0 else segment

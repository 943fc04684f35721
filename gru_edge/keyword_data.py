"""A custom wake word's training folder, from its text: every voice installed says it.

`make_keyword_data("hey kitchen", OUT)` writes the folder-per-label layout `gru-edge train`
reads (`gru_edge.datasets`):

- `OUT/hey_kitchen/`: the phrase, said by every voice (`gru_edge.synth`) at random rates and
  pitches, each clip through a room and a microphone (`gru_edge.degrade`: reverberation,
  background noise from `noise` folders, band-limiting, level), placed at a random time in a
  clip long enough for the slowest voice;
- `OUT/_unknown_/`: the same for what is not the word: half its confusables
  (`synth.confusables`: "hey chicken", "kitchen", "hey kit", ...), half random sentences
  (`synth.random_sentences`; training takes their loudest clip-long window);
- `OUT/validation_list.txt`: a tenth of the clips of every voice, to choose checkpoints on (no
  testing list: synthetic voices say nothing about real ones; real recordings do);
- `OUT/manifest.jsonl`: how each clip was made (voice, rate, pitch, text, degradation);
- `OUT/_background_noise_/noise_floor.wav`: ten minutes of pieces of the noise recordings and
  of white and pink noise, which training mixes in and cuts silence clips from;
- `OUT/_tts_/`: the clean speech, cached: the same request again makes no speech (another
  count draws other rates and pitches, so mostly new speech).

The same seed, texts, voices and noise give the same files. No TensorFlow here.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.pool import ThreadPool
from pathlib import Path

import numpy as np

from gru_edge.atomicfile import atomic_path, write_text
from gru_edge.audio import SAMPLE_RATE, read_audio, write_wav
from gru_edge.datasets import LIST_FILES, NOISE_FOLDER, UNKNOWN, synthetic_noise
from gru_edge.degrade import degrade, draw
from gru_edge.errors import GruEdgeError
from gru_edge.negatives import NegativeAudioError, load_negatives
from gru_edge.synth import (
    Clip,
    _words,
    confusables,
    find_voices,
    negative_texts,
    plan,
    synthesize,
)

logger = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
TTS_FOLDER = "_tts_"
VALIDATION_FRACTION = 0.1
MIN_CLIP_SECONDS = 1.0
MIN_CLIPS = 4  # of each kind: with half confusables, half sentences, two of each
CLIP_MARGIN_SECONDS = 0.3  # silence around the slowest voice's phrase, to place it at random
NOISE_FLOOR_MINUTES = 10.0
NOISE_PIECE_S = (0.5, 3.0)
MAX_NOISE_FILES = 300  # of each noise folder, chosen at random: minutes of variety, little memory
# How the phrase is written: punctuation changes how engines say it (a command, a statement).
PHRASINGS = ("{}", "{}!", "{}.", "{}?")


@dataclass(frozen=True)
class KeywordData:
    """What `make_keyword_data` wrote: the label, the clip length, clips per voice and kind."""

    folder: Path
    label: str
    clip_seconds: float
    counts: dict[str, dict[str, int]]  # voice -> {"positive": n, "confusable": n, "sentence": n}
    failed: int
    seconds: float  # of clean speech

    def summary(self) -> dict:
        return {**asdict(self), "folder": str(self.folder)}


def label_of(phrase: str) -> str:
    """The phrase as a label and folder name: "Hey Kitchen!" -> "hey_kitchen". Letters
    beyond a-z and digits are refused: the voices would not say what was meant."""
    unsayable = sorted(set(re.sub(r"[a-z' .,!?-]", "", phrase.lower())))
    if unsayable:
        raise GruEdgeError(
            f"the wake word {phrase!r} holds {''.join(unsayable)!r}: write it in the letters "
            f"a-z as it is said (numbers as words, 'jurgen' for 'jürgen')"
        )
    words = _words(phrase)
    if not any(re.search("[a-z]", word) for word in words):
        raise GruEdgeError(
            f"the wake word {phrase!r} has no letters: give it as text, e.g. 'hey kitchen'"
        )
    return "_".join(words)


def make_keyword_data(
    phrase: str,
    out: str | Path,
    count: int = 2000,
    confusable_count: int | None = None,
    voices: Sequence[str] = (),
    noise: Sequence[str | Path] = (),
    seed: int = 0,
    jobs: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> KeywordData:
    """Writes the training folder of `phrase` into `out` (see the module's docstring):
    `count` clips of the phrase and `confusable_count` (default: as many) of what is not the
    phrase (half confusables, half sentences), dealt equally to `voices` (default: every voice
    installed). `progress(stage, done, total)` is called as clips are spoken ("speech") and
    degraded ("clips")."""
    label = label_of(phrase)
    confusable_count = count if confusable_count is None else confusable_count
    for option, value in (("--count", count), ("--confusables", confusable_count)):
        if value < MIN_CLIPS:  # a clip to train on and one to choose the checkpoint with
            raise GruEdgeError(f"{option} must be at least {MIN_CLIPS}, got {value}")
    out = Path(out)
    noise_files, noises = _load_noise(noise, seed)  # refused now, not after the speech
    chosen = find_voices(voices)
    spoken = " ".join(_words(phrase))
    near = set(confusables([phrase]))
    wanted = [
        (label, clip)
        for clip in plan(
            [PHRASINGS[i % len(PHRASINGS)].format(spoken) for i in range(count)], chosen, seed
        )
    ]
    texts = negative_texts([phrase], confusable_count, seed)  # sentences: their loudest clip
    wanted += [(UNKNOWN, clip) for clip in plan(texts, chosen, seed + 1)]

    tts = out / TTS_FOLDER
    unique = list(dict.fromkeys(clip for _, clip in wanted))
    files, failed = {}, 0
    for done, outcome in enumerate(synthesize(unique, tts, jobs), 1):
        if outcome.status == "failed":
            failed += 1
        else:
            files[outcome.clip] = outcome.file
        if progress:
            progress("speech", done, len(unique))
    made = [(kind, clip) for kind, clip in wanted if clip in files]
    if not any(kind == label for kind, _ in made):
        raise GruEdgeError(f"no voice could say {phrase!r}: see the warnings above")

    clean = {clip: read_audio(tts / files[clip]) for clip in dict.fromkeys(c for _, c in made)}
    longest = max(len(clean[clip]) for kind, clip in made if kind == label) / SAMPLE_RATE
    clip_seconds = max(MIN_CLIP_SECONDS, math.ceil((longest + CLIP_MARGIN_SECONDS) * 10) / 10)

    def write(item: tuple[int, tuple[str, Clip]]) -> dict:
        index, (kind, clip) = item
        rng = np.random.default_rng([seed, index])
        speech = clean[clip]
        length = max(round(clip_seconds * SAMPLE_RATE), len(speech))
        start = int(rng.integers(length - len(speech) + 1))
        degradation = draw(rng, len(noises))
        audio = degrade(
            speech, degradation, length, start, noises, SAMPLE_RATE, int(rng.integers(2**31))
        )
        name = f"{kind}/{clip.folder}_nohash_{index:05d}.wav"
        (out / kind).mkdir(parents=True, exist_ok=True)
        with atomic_path(out / name) as partial:
            write_wav(partial, audio, SAMPLE_RATE)
        what = "positive" if kind == label else "confusable" if clip.text in near else "sentence"
        return {
            "file": name,
            "kind": what,
            **asdict(clip),
            "tts_file": f"{TTS_FOLDER}/{files[clip]}",
            "start_s": round(start / SAMPLE_RATE, 3),
            "degradation": asdict(degradation),
            "noise_file": str(noise_files[degradation.noise]) if degradation.noise >= 0 else "",
        }

    records = []
    with ThreadPool(jobs) as pool:
        for record in pool.imap(write, enumerate(made)):
            records.append(record)
            if progress:
                progress("clips", len(records), len(made))
    _remove_stale(out, {record["file"] for record in records})
    write_noise_floor(out / NOISE_FOLDER, noises, seed)
    write_text(out / MANIFEST, "".join(json.dumps(record) + "\n" for record in records))
    validation = _validation_files(records, seed)
    write_text(out / LIST_FILES["validation"], "".join(f"{name}\n" for name in validation))
    counts: dict[str, Counter] = {}
    for record in records:
        counts.setdefault(f"{record['engine']}-{record['voice']}", Counter())[record["kind"]] += 1
    return KeywordData(
        out,
        label,
        clip_seconds,
        {voice: dict(kinds) for voice, kinds in counts.items()},
        failed,
        round(sum(len(samples) for samples in clean.values()) / SAMPLE_RATE, 1),
    )


def _load_noise(folders: Sequence[str | Path], seed: int) -> tuple[list[Path], list[np.ndarray]]:
    """The training part of the noise folders (split by group as negative audio is,
    `gru_edge.negatives`: the same folders given as --negatives keep their validation and test
    parts unheard), up to MAX_NOISE_FILES recordings of each, chosen at random."""
    if not folders:
        return [], []
    try:
        audio = load_negatives(folders, (), SAMPLE_RATE)
    except NegativeAudioError as e:
        raise GruEdgeError(f"--noise: {e}") from None
    rng = random.Random(seed)
    files, noises = [], []
    for corpus in sorted({r.corpus for r in audio.recordings}):
        training = [r for r in audio.split("train") if r.corpus == corpus]
        for recording in rng.sample(training, min(len(training), MAX_NOISE_FILES)):
            if recording.length >= SAMPLE_RATE // 10:
                files.append(recording.path)
                noises.append(audio.window(recording, 0, recording.length))
    return files, noises


def write_noise_floor(folder: Path, noises: list[np.ndarray], seed: int) -> Path:
    """`folder/noise_floor.wav`: NOISE_FLOOR_MINUTES of pieces of every noise recording and of
    white and pink noise, each piece at one level, in a seeded random order. Training
    cuts silence clips from it and mixes it under clips, as with Speech Commands' own noise
    folder; in pieces, every part of it (the dataset cuts it in time into its splits) holds
    every kind of noise, and a sound the synthetic clips never had is more likely noise than
    the word."""
    rng = np.random.default_rng([seed, 1])
    sources = [*noises, *synthetic_noise(60.0, SAMPLE_RATE, seed)]
    pieces, total = [], 0
    while total < NOISE_FLOOR_MINUTES * 60 * SAMPLE_RATE:
        source = sources[int(rng.integers(len(sources)))]
        length = min(len(source), int(rng.uniform(*NOISE_PIECE_S) * SAMPLE_RATE))
        start = int(rng.integers(len(source) - length + 1))
        piece = source[start : start + length].astype(np.float64)
        rms = np.sqrt(np.mean(piece**2))
        if rms > 0:
            pieces.append(piece * (0.05 / rms))
            total += length
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "noise_floor.wav"
    with atomic_path(path) as partial:
        write_wav(partial, np.clip(np.concatenate(pieces), -1, 1).astype(np.float32), SAMPLE_RATE)
    return path


def _remove_stale(out: Path, kept: set[str]) -> None:
    """Deletes the clips an earlier run wrote (its manifest names them) that this run did
    not: a smaller --count leaves no old clips behind. Files the manifest does not name (the
    user's own) are never touched."""
    path = out / MANIFEST
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            name = json.loads(line)["file"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        if name not in kept:
            (out / name).unlink(missing_ok=True)


def _validation_files(records: list[dict], seed: int) -> list[str]:
    """A seeded tenth of each voice's clips of each kind (at least one of the phrase)."""
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[str]] = {}
    for record in records:
        groups.setdefault((record["kind"], record["tts_file"].split("/")[1]), []).append(
            record["file"]
        )
    chosen = []
    for (kind, _), names in sorted(groups.items()):
        share = round(len(names) * VALIDATION_FRACTION)
        chosen += rng.sample(names, max(share, 1 if kind == "positive" and len(names) > 1 else 0))
    for kind in ("positive", "confusable", "sentence"):  # few clips: one of each kind at least
        names = [r["file"] for r in records if r["kind"] == kind]
        if len(names) > 1 and not set(names) & set(chosen):
            chosen.append(rng.choice(names))
    return sorted(chosen)

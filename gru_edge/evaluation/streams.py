"""Streaming evaluation: false accepts per hour and false rejects, the way a device listens.

A long stream is built from the dataset's test split (or, for tuning, its validation split;
seeded): background noise from that split's part of the noise recordings, at a random level
that changes every few seconds, and, when negative audio is given, the same split of it (other
people talking, music, noise; `gru_edge.negatives`) laid over that noise floor most of the
time; the split's keyword clips and unknown-word clips are placed at random times, and the
true time of every keyword is recorded. The real runtime (front end, TFLite model, state never
reset) scores it once; the detector then runs over those scores at every threshold of a sweep.
A detection of the right keyword from the start of its clip to `tolerance` after the end of
the word is a hit; one inside a keyword span marked in the negative audio (a real "on" in read
speech) is neither a hit nor a false accept; any other detection is a false accept; a keyword
without a hit is a miss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gru_edge.audio import int16_to_float
from gru_edge.config import Config, DetectorConfig, FeatureConfig
from gru_edge.datasets import LIST_FILES, NOISE_FOLDER, UNKNOWN, Dataset, load_dataset, word_end
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.clips import model_dataset
from gru_edge.features import FeatureExtractor
from gru_edge.modelfile import is_keyword
from gru_edge.negatives import NegativeAudio, overlaps
from gru_edge.runtime.detector import Detection, Detector
from gru_edge.runtime.stream import StreamingModel

THRESHOLDS = np.round(np.concatenate([np.arange(0.10, 0.90, 0.05), np.arange(0.90, 1.0, 0.01)]), 3)
FA_PER_HOUR = 0.5
FRR_TARGET = 0.05


@dataclass(frozen=True)
class Occurrence:
    """A keyword in the stream: its clip's start, and the end of the word in it (seconds)."""

    keyword: str
    start: float
    word_end: float


@dataclass(frozen=True)
class Segment:
    """A piece of a stream: its audio, the keywords that start in it, and the keyword spans
    marked inside its negative audio ((start, end) seconds, stream time)."""

    audio: np.ndarray
    occurrences: list[Occurrence]
    marked: list[tuple[float, float]]


def stream_dataset(model: StreamingModel, data_dir: str | Path, split: str = "test") -> Dataset:
    """The `split` of the dataset with the model's keywords and every unknown-word clip."""
    return model_dataset(model, data_dir, split, silence_percentage=0.0, unknown_percentage=100.0)


def build_stream(
    dataset: Dataset,
    hours: float,
    seed: int,
    sample_rate: int,
    segment_seconds: float = 60.0,
    split: str = "test",
    negatives: NegativeAudio | None = None,
) -> Iterator[Segment]:
    """The stream of `split` in segments, seeded. The clips and the noise floor are the same
    with or without `negatives` (the talk over them draws from its own generator), so that
    the two streams compare the same keywords. A split without keyword clips or without a
    second of noise, or a length that holds no audio, is refused before the first segment."""
    total = int(hours * 3600 * sample_rate) if math.isfinite(hours) else 0
    if total < 1:
        raise GruEdgeError(
            f"a stream of {hours:g} hours holds no audio: its length (eval --hours) must be "
            f"a positive, finite number of hours (0.01 is 36 s)"
        )
    rng = np.random.default_rng(seed)
    clips = dataset.clips[split]
    unknown = dataset.labels.index(UNKNOWN)
    keyword_ids = np.nonzero(clips.labels > unknown)[0]
    unknown_ids = np.nonzero(clips.labels == unknown)[0]
    root = dataset.index.root
    if not len(keyword_ids):
        raise GruEdgeError(
            f"{root}: the {split} split holds no clip of the keywords "
            f"{list(dataset.labels[unknown + 1 :])}, so a stream of it has nothing to find: "
            f"list some in {LIST_FILES.get(split, 'its list file')}, or measure false accepts "
            f"alone (eval --negatives-only)"
        )
    noise = [n for n in dataset.noise[split] if len(n) > sample_rate]
    if not noise:
        raise GruEdgeError(
            f"{root}: no background noise recording holds more than a second of the {split} "
            f"split (each is cut in time by the split percentages): add longer recordings "
            f"to {NOISE_FOLDER}/"
        )
    talk = _Talk(negatives, split, sample_rate, seed) if negatives else None
    segment = int(segment_seconds * sample_rate)
    queue = _cycle(keyword_ids, rng)
    cursor = int(rng.uniform(1.0, 3.0) * sample_rate)  # where the next clip starts
    spill = np.zeros(0, np.float32)  # the end of a clip that crosses into the next segment
    for offset in range(0, total, segment):
        length = min(segment, total - offset)
        audio = _background(noise, length, rng, sample_rate)
        marked = talk.add(audio, offset) if talk else []
        audio[: len(spill)] += spill
        occurrences, spill = [], spill[:0]
        while cursor < offset + length:
            is_keyword = rng.random() < 0.6 or not len(unknown_ids)
            index = next(queue) if is_keyword else rng.choice(unknown_ids)
            clip = int16_to_float(clips.audio[index])
            if cursor + len(clip) > total:  # no clip cut off by the end of the stream
                cursor = total
                break
            start = cursor - offset
            inside = clip[: length - start]
            audio[start : start + len(inside)] += inside
            spill = clip[len(inside) :]
            if is_keyword:
                seconds = cursor / sample_rate
                occurrences.append(
                    Occurrence(
                        dataset.labels[clips.labels[index]],
                        seconds,
                        seconds + word_end(clip, sample_rate),
                    )
                )
            cursor += len(clip) + int(rng.uniform(1.5, 4.0) * sample_rate)
        yield Segment(audio, occurrences, marked)


@dataclass
class StreamFrames:
    """A whole stream as the front end's frames, with what is in it."""

    frames: np.ndarray  # (frames, bins) float32
    occurrences: list[Occurrence]
    marked: list[tuple[float, float]]
    hours: float


def stream_frames(
    dataset: Dataset,
    features: FeatureConfig,
    hours: float,
    seed: int,
    split: str,
    negatives: NegativeAudio | None = None,
) -> StreamFrames:
    """The log-mel frames of `build_stream`'s stream, computed once: a model (or several
    variants of it) can then be scored on them without rebuilding the audio."""
    extractor = FeatureExtractor(features)
    frames, occurrences, marked = [], [], []
    rate = features.sample_rate
    for segment in build_stream(dataset, hours, seed, rate, split=split, negatives=negatives):
        frames.append(extractor.accept(segment.audio))
        occurrences += segment.occurrences
        marked += segment.marked
    return StreamFrames(np.concatenate(frames), occurrences, marked, hours)


def settings_stream(
    data_root: str | Path,
    config: Config,
    hours: float,
    seed: int,
    split: str,
    negatives: NegativeAudio | None = None,
) -> StreamFrames:
    """`stream_frames` of `split` for a training run's settings (its keywords, front end and
    every unknown-word clip), for the streams a run is chosen and calibrated on."""
    data = dataclasses.replace(config.data, silence_percentage=0.0, unknown_percentage=100.0)
    dataset = load_dataset(data_root, data, config.features.sample_rate, (split,))
    return stream_frames(dataset, config.features, hours, seed, split, negatives)


def negative_frames(negatives: NegativeAudio, features: FeatureConfig, split: str) -> StreamFrames:
    """The frames of `split`'s negative audio alone, every recording once, back to back."""
    extractor = FeatureExtractor(features)
    rate, block = features.sample_rate, 60 * features.sample_rate
    frames, marked, at = [], [], 0
    for recording in negatives.split(split):
        for start in range(0, recording.length, block):
            frames.append(extractor.accept(negatives.window(recording, start, block)))
        marked += [((at + s.start) / rate, (at + s.end) / rate) for s in recording.spans]
        at += recording.length
    if not at:
        raise GruEdgeError(f"the negative audio has no {split} part")
    return StreamFrames(np.concatenate(frames), [], marked, at / rate / 3600)


class _Talk:
    """Negative audio of one split laid over a stream: pieces of 3-20 s from random
    recordings at -50 to -25 dBFS with pauses of 0-3 s, as someone talking (or music, or a
    machine) in the room; remembers the keyword spans it lays down."""

    def __init__(self, negatives: NegativeAudio, split: str, sample_rate: int, seed: int) -> None:
        self.negatives, self.rate = negatives, sample_rate
        self.recordings = [r for r in negatives.split(split) if r.length > sample_rate]
        if not self.recordings:
            raise GruEdgeError(f"the negative audio has no {split} part longer than a second")
        self.rng = np.random.default_rng([seed, 1])
        self.next_start = 0  # stream sample where the next piece begins

    def add(self, audio: np.ndarray, offset: int) -> list[tuple[float, float]]:
        """Lays the talk over the segment of the stream that starts at sample `offset`
        (pieces end with the segment); returns the keyword spans it laid down."""
        marked = []
        while self.next_start < offset + len(audio):
            at = self.next_start - offset
            recording = self.recordings[self.rng.integers(len(self.recordings))]
            size = min(int(self.rng.uniform(3, 20) * self.rate), recording.length, len(audio) - at)
            start = int(self.rng.integers(recording.length - size + 1))
            piece = self.negatives.window(recording, start, size)
            audio[at : at + size] += _at_level(piece, self.rng.uniform(-50, -25))
            marked += [
                (
                    (self.next_start + s.start - start) / self.rate,
                    (self.next_start + s.end - start) / self.rate,
                )
                for s in recording.spans
                if overlaps(s.start, s.end, start, start + size)
            ]
            self.next_start += size + int(self.rng.uniform(0, 3) * self.rate)
        return marked


def _cycle(ids: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
    while True:
        yield from rng.permutation(ids)


def _background(
    noise: list[np.ndarray], length: int, rng: np.random.Generator, sample_rate: int
) -> np.ndarray:
    """Noise pieces of 2-8 s from random recordings at -55 to -35 dBFS, one after another."""
    audio = np.empty(length, np.float32)
    at = 0
    while at < length:
        source = noise[rng.integers(len(noise))]
        size = min(length - at, int(rng.uniform(2, 8) * sample_rate), len(source))
        start = rng.integers(len(source) - size + 1)
        audio[at : at + size] = _at_level(source[start : start + size], rng.uniform(-55, -35))
        at += size
    return audio


def _at_level(piece: np.ndarray, dbfs: float) -> np.ndarray:
    """`piece` scaled to an RMS level of `dbfs` (silence stays silent)."""
    piece = piece.astype(np.float64)
    rms = np.sqrt(np.mean(piece**2)) or 1.0
    return piece * (10 ** (dbfs / 20) / rms)


def score_stream(
    model: StreamingModel,
    data_dir: str | Path,
    hours: float,
    seed: int = 0,
    split: str = "test",
    negatives: NegativeAudio | None = None,
) -> tuple[np.ndarray, list[Occurrence], list[tuple[float, float]]]:
    """The model's scores for every frame of the stream (its front end, then the model, the
    state never reset), the keywords in it, and the keyword spans marked in its negative
    audio."""
    dataset = stream_dataset(model, data_dir, split)
    found = stream_frames(dataset, model.metadata.features, hours, seed, split, negatives)
    model.reset()
    return model.process(found.frames), found.occurrences, found.marked


def score_negatives(
    model: StreamingModel, negatives: NegativeAudio, split: str = "test"
) -> tuple[np.ndarray, list[tuple[float, float]], float]:
    """The model's scores over the negative audio of `split` alone, every recording once at
    its own level, back to back, the state never reset; the keyword spans marked in it; its
    length in hours. What an hour of ordinary talk, music and noise costs."""
    found = negative_frames(negatives, model.metadata.features, split)
    model.reset()
    return model.process(found.frames), found.marked, found.hours


def match(
    detections: list[Detection],
    occurrences: list[Occurrence],
    tolerance: float,
    marked: list[tuple[float, float]] = (),
) -> tuple[list[tuple[Occurrence, Detection]], list[Detection]]:
    """Hits (each keyword at most once) and false accepts; a detection that is no hit but
    falls inside a marked span or within `tolerance` after its end is neither."""
    open_ = sorted(occurrences, key=lambda o: o.start)
    hits, false_accepts, used = [], [], set()
    for detection in detections:
        found = None
        for i, occurrence in enumerate(open_):
            if occurrence.start > detection.time:
                break
            if (
                i not in used
                and occurrence.keyword == detection.keyword
                and detection.time <= occurrence.word_end + tolerance
            ):
                found = i
                break
        if found is not None:
            used.add(found)
            hits.append((open_[found], detection))
        elif not any(start <= detection.time <= end + tolerance for start, end in marked):
            false_accepts.append(detection)
    return hits, false_accepts


def sweep(
    scores: np.ndarray,
    occurrences: list[Occurrence],
    labels: tuple[str, ...],
    features: FeatureConfig,
    hours: float,
    detector: DetectorConfig,
    tolerance: float = 1.0,
    marked: list[tuple[float, float]] = (),
    thresholds: dict[str, float] | None = None,
    fa_per_hour: float = FA_PER_HOUR,
) -> dict:
    """FRR and false accepts per hour at every threshold, overall and per keyword; the DET
    operating points; and the figures (with latencies) where the model runs by default: its
    per-keyword `thresholds` when given (calibrated at export), else `detector.threshold`."""
    keywords = tuple(label for label in labels if is_keyword(label))
    counts = {k: sum(o.keyword == k for o in occurrences) for k in keywords}

    def point(config: DetectorConfig, per_keyword_thresholds=None) -> dict:
        found = Detector(labels, config, features, per_keyword_thresholds).process(scores)
        hits, false_accepts = match(found, occurrences, tolerance, marked)
        per_keyword = {
            k: {
                "frr": 1 - sum(o.keyword == k for o, _ in hits) / counts[k] if counts[k] else None,
                "fa_per_hour": sum(d.keyword == k for d in false_accepts) / hours,
            }
            for k in keywords
        }
        return {
            "threshold": config.threshold,
            "frr": 1 - len(hits) / len(occurrences) if occurrences else None,
            "fa_per_hour": len(false_accepts) / hours,
            "per_keyword": per_keyword,
            "latencies": [d.time - o.word_end for o, d in hits],
        }

    points = [point(dataclasses.replace(detector, threshold=float(t))) for t in THRESHOLDS]
    for p in points:
        p.pop("latencies")
    default = point(detector, thresholds or None)
    if thresholds:
        default["thresholds"] = dict(thresholds)
    latencies = np.asarray(default.pop("latencies"))
    return {
        "hours": hours,
        "keywords": counts,
        "marked_spans": len(marked),
        "tolerance_seconds": tolerance,
        "detector": dataclasses.asdict(detector),
        "at_model_threshold": default,
        "latency_seconds": {
            "median": float(np.median(latencies)) if len(latencies) else None,
            "p90": float(np.percentile(latencies, 90)) if len(latencies) else None,
        },
        "frr_at_fa_per_hour": operating_points(points, keywords, "fa_per_hour", fa_per_hour, "frr"),
        "fa_per_hour_at_frr": operating_points(points, keywords, "frr", FRR_TARGET, "fa_per_hour"),
        "det": points,
    }


def operating_points(
    points: list[dict], keywords: list[str], limit_key: str, limit: float, value_key: str
) -> dict:
    """Overall and per keyword: the best `value_key` among thresholds whose `limit_key` is
    at most `limit` (None where no threshold qualifies), with that threshold."""

    def best(get) -> dict | None:
        qualifying = [
            p
            for p in points
            if get(p)[limit_key] is not None
            and get(p)[limit_key] <= limit
            and get(p)[value_key] is not None  # no FRR on audio without keywords
        ]
        if not qualifying:
            return None
        chosen = min(qualifying, key=lambda p: get(p)[value_key])
        return {
            "threshold": chosen["threshold"],
            value_key: get(chosen)[value_key],
            limit_key: get(chosen)[limit_key],
        }

    return {
        "limit": {limit_key: limit},
        "overall": best(lambda p: p),
        "per_keyword": {k: best(lambda p, k=k: p["per_keyword"][k]) for k in keywords},
    }

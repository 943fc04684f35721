"""Streaming evaluation: false accepts per hour and false rejects, the way a device listens.

A long stream is built from the dataset's test split (or, for tuning, its validation split;
seeded): background noise from that split's part of the noise recordings, at a random level
that changes every few seconds, with the split's keyword clips and unknown-word clips placed at
random times, and the true time of every keyword recorded. The real runtime (front end, TFLite
model, state never reset) scores it once; the detector then runs over those scores at every
threshold of a sweep. A detection of the right keyword from the start of its clip to
`tolerance` after the end of the word is a hit; any other detection is a false accept; a
keyword without a hit is a miss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gru_edge.config import DetectorConfig
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.clips import model_dataset, model_keywords
from gru_edge.runtime.detector import Detection, Detector
from gru_edge.runtime.stream import AudioStream, StreamingModel
from gru_edge.training.data import UNKNOWN, Dataset

THRESHOLDS = np.round(np.concatenate([np.arange(0.10, 0.90, 0.05), np.arange(0.90, 1.0, 0.01)]), 3)
FA_PER_HOUR = 0.5
FRR_TARGET = 0.05


@dataclass(frozen=True)
class Occurrence:
    """A keyword in the stream: its clip's start, and the end of the word in it (seconds)."""

    keyword: str
    start: float
    word_end: float


def word_end(clip: np.ndarray, sample_rate: int) -> float:
    """Where the speech of a clip ends (s): the last 10 ms within 20 dB of its loudest."""
    hop = sample_rate // 100
    energy = np.mean(clip[: len(clip) // hop * hop].reshape(-1, hop) ** 2, axis=1)
    loud = np.nonzero(energy >= energy.max() * 0.01)[0]
    return (loud[-1] + 1) * hop / sample_rate


def stream_dataset(model: StreamingModel, data_dir: str | Path, split: str = "test") -> Dataset:
    """The `split` of the dataset with the model's keywords and every unknown-word clip."""
    dataset = model_dataset(
        model, data_dir, split, silence_percentage=0.0, unknown_percentage=100.0
    )
    if not any(len(n) for n in dataset.noise[split]):
        raise GruEdgeError(f"{data_dir}: no background noise for the {split} streams")
    return dataset


def build_stream(
    dataset: Dataset,
    hours: float,
    seed: int,
    sample_rate: int,
    segment_seconds: float = 60.0,
    split: str = "test",
) -> Iterator[tuple[np.ndarray, list[Occurrence]]]:
    """The stream of `split` in segments: (audio, the keywords that start in it), seeded."""
    rng = np.random.default_rng(seed)
    clips = dataset.clips[split]
    unknown = dataset.labels.index(UNKNOWN)
    keyword_ids = np.nonzero(clips.labels > unknown)[0]
    unknown_ids = np.nonzero(clips.labels == unknown)[0]
    noise = [n for n in dataset.noise[split] if len(n) > sample_rate]
    total = int(hours * 3600 * sample_rate)
    segment = int(segment_seconds * sample_rate)
    queue = _cycle(keyword_ids, rng)
    cursor = int(rng.uniform(1.0, 3.0) * sample_rate)  # where the next clip starts
    spill = np.zeros(0, np.float32)  # the end of a clip that crosses into the next segment
    for offset in range(0, total, segment):
        length = min(segment, total - offset)
        audio = _background(noise, length, rng, sample_rate)
        audio[: len(spill)] += spill
        occurrences, spill = [], spill[:0]
        while cursor < offset + length:
            is_keyword = rng.random() < 0.6 or not len(unknown_ids)
            index = next(queue) if is_keyword else rng.choice(unknown_ids)
            clip = clips.audio[index].astype(np.float32) / 32768.0
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
        yield audio, occurrences


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
        piece = source[start : start + size].astype(np.float64)
        rms = np.sqrt(np.mean(piece**2)) or 1.0
        audio[at : at + size] = piece * (10 ** (rng.uniform(-55, -35) / 20) / rms)
        at += size
    return audio


def score_stream(
    model_path: str | Path,
    data_dir: str | Path,
    hours: float,
    seed: int = 0,
    num_threads: int = 1,
    split: str = "test",
) -> tuple[np.ndarray, list[Occurrence], StreamingModel]:
    """The model's scores for every frame of the stream, the keywords in it, the model."""
    model = StreamingModel(model_path, num_threads=num_threads)
    dataset = stream_dataset(model, data_dir, split)
    stream = AudioStream(model)
    scores, occurrences = [], []
    sample_rate = model.metadata.features.sample_rate
    for audio, found in build_stream(dataset, hours, seed, sample_rate, split=split):
        scores.append(stream.accept(audio))
        occurrences += found
    return np.concatenate(scores), occurrences, model


def match(
    detections: list[Detection], occurrences: list[Occurrence], tolerance: float
) -> tuple[list[tuple[Occurrence, Detection]], list[Detection]]:
    """Hits (each keyword at most once) and false accepts."""
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
        if found is None:
            false_accepts.append(detection)
        else:
            used.add(found)
            hits.append((open_[found], detection))
    return hits, false_accepts


def sweep(
    scores: np.ndarray,
    occurrences: list[Occurrence],
    model: StreamingModel,
    hours: float,
    detector: DetectorConfig,
    tolerance: float = 1.0,
) -> dict:
    """FRR and false accepts per hour at every threshold, overall and per keyword; the DET
    operating points; latencies at the model's own threshold."""
    keywords = model_keywords(model)
    counts = {k: sum(o.keyword == k for o in occurrences) for k in keywords}
    points = []
    for threshold in [*THRESHOLDS, detector.threshold]:
        config = dataclasses.replace(detector, threshold=float(threshold))
        found = Detector(model.labels, config, model.metadata.features).process(scores)
        hits, false_accepts = match(found, occurrences, tolerance)
        per_keyword = {}
        for k in keywords:
            hit = sum(o.keyword == k for o, _ in hits)
            per_keyword[k] = {
                "frr": 1 - hit / counts[k] if counts[k] else None,
                "fa_per_hour": sum(d.keyword == k for d in false_accepts) / hours,
            }
        points.append(
            {
                "threshold": float(threshold),
                "frr": 1 - len(hits) / len(occurrences),
                "fa_per_hour": len(false_accepts) / hours,
                "per_keyword": per_keyword,
                "latencies": [d.time - o.word_end for o, d in hits],
            }
        )
    default = points.pop()
    latencies = np.asarray(default.pop("latencies"))
    for point in points:
        point.pop("latencies")
    return {
        "hours": hours,
        "keywords": counts,
        "tolerance_seconds": tolerance,
        "detector": dataclasses.asdict(detector),
        "at_model_threshold": default,
        "latency_seconds": {
            "median": float(np.median(latencies)) if len(latencies) else None,
            "p90": float(np.percentile(latencies, 90)) if len(latencies) else None,
        },
        "frr_at_fa_per_hour": operating_points(points, keywords, "fa_per_hour", FA_PER_HOUR, "frr"),
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
            p for p in points if get(p)[limit_key] is not None and get(p)[limit_key] <= limit
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

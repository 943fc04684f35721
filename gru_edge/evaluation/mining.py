"""Hard negatives: the moments of long negative audio where a model fires, or nearly fires.

A model is run through the runtime (front end, TFLite, state never reset) over every
recording of one split of the negative audio, and the detector, at `min_score` (below the
model's own thresholds, to catch near misses too), marks where a keyword would fire. The
second of audio that ends just after each such moment is written as a WAV file, outside the
keyword spans marked in the audio (a real "on" in read speech is not a false accept). A
training round adds the folder to `data.hard_negatives`: those windows are then taught as
negatives, more often than their share of the audio.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from gru_edge.atomicfile import write_text
from gru_edge.audio import write_wav
from gru_edge.negatives import load_for_model, overlaps
from gru_edge.runtime.detector import Detector
from gru_edge.runtime.stream import AudioStream, StreamingModel

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0  # a clip's length, so mined windows stand where clips stand
AFTER_SECONDS = 0.1  # the window ends this long after the moment the detector fired
MANIFEST = "mined.jsonl"


def mine(
    model_path: str | Path,
    folders: list[str | Path],
    out: str | Path,
    split: str = "train",
    min_score: float = 0.5,
    num_threads: int = 1,
) -> dict:
    """Writes OUT/<keyword>/<recording>-<ms>.wav for every near detection and OUT/mined.jsonl
    describing them; returns a summary (hours searched, windows per keyword)."""
    model = StreamingModel(model_path, num_threads=num_threads)
    meta = model.metadata
    rate = meta.features.sample_rate
    negatives = load_for_model(folders, meta)
    config = dataclasses.replace(meta.detector, threshold=min_score)
    out = Path(out)
    found, seconds = [], 0.0
    window = round(WINDOW_SECONDS * rate)
    block = 60 * rate  # recordings of any length, a minute at a time
    for recording in negatives.split(split):
        stream = AudioStream(model)
        detector = Detector(meta.labels, config, meta.features)
        seconds += recording.length / rate
        detections = [
            detection
            for at in range(0, recording.length, block)
            for detection in detector.process(stream.accept(negatives.window(recording, at, block)))
        ]
        for detection in detections:
            end = min(recording.length, round((detection.time + AFTER_SECONDS) * rate))
            start = max(0, end - window)
            if any(overlaps(s.start, s.end, start, end) for s in recording.spans):
                continue  # a keyword really is spoken there
            # corpus and group too: two corpora may hold files of the same name
            source = f"{recording.corpus}-{Path(recording.group).stem}-{recording.path.stem}"
            name = f"{source}-{round(start * 1000 / rate):08d}.wav"
            path = out / detection.keyword / name
            path.parent.mkdir(parents=True, exist_ok=True)
            samples = negatives.window(recording, start, end - start)
            write_wav(path, np.pad(samples, (window - len(samples), 0)), rate)
            found.append(
                {
                    "file": str(path.relative_to(out)),
                    "keyword": detection.keyword,
                    "score": round(detection.score, 4),
                    "source": str(recording.path),
                    "time": round(recording.start / rate + detection.time, 3),
                }
            )
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / MANIFEST, "".join(json.dumps(f) + "\n" for f in found))
    summary = {
        "model": str(model_path),
        "split": split,
        "min_score": min_score,
        "hours": seconds / 3600,
        "windows": len(found),
        "per_keyword": dict(Counter(f["keyword"] for f in found)),
        "per_hour": len(found) / (seconds / 3600) if seconds else None,
    }
    logger.info(
        "mined %d windows in %.2f h of %s audio (%.1f an hour) into %s",
        len(found),
        summary["hours"],
        split,
        summary["per_hour"] or 0.0,
        out,
    )
    return summary

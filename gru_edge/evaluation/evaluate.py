"""`gru-edge eval`: clip accuracy, or streaming FRR and false accepts per hour, with a JSON
report, markdown tables and plots."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from gru_edge.atomicfile import write_text
from gru_edge.config import DetectorConfig
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.clips import MODES, clip_accuracy
from gru_edge.evaluation.streams import score_negatives, score_stream, sweep
from gru_edge.extras import require
from gru_edge.negatives import load_for_model
from gru_edge.runtime.stream import StreamingModel

logger = logging.getLogger(__name__)


def evaluate(
    model: str | Path,
    data: str | Path,
    streaming: bool = False,
    hours: float = 1.0,
    seed: int = 0,
    json_out: str | Path | None = None,
    plots: str | Path | None = None,
    num_threads: int = 1,
    split: str = "test",
    detector: DetectorConfig | None = None,
    negatives: Sequence[str | Path] = (),
    negatives_only: bool = False,
) -> dict:
    """The report of a model on `data`: clip accuracy, or (`streaming`) the stream's sweep,
    with the `negatives` folders' audio of the split talking over the stream when given, or
    (`negatives_only`) the sweep over that negative audio alone; written as JSON to
    `json_out` and as PNGs into `plots` when given. `split` "validation" is for tuning (the
    test figures stay honest); `detector` replaces the settings the model carries, to try
    others without a new export (and then its threshold replaces calibrated ones)."""
    if negatives and not (streaming or negatives_only):
        raise GruEdgeError("--negatives goes with --streaming or --negatives-only")
    if streaming or negatives_only:
        loaded = StreamingModel(model, num_threads=num_threads)
        meta = loaded.metadata
        audio = load_for_model(negatives, meta) if negatives else None
        if negatives_only:
            if audio is None:
                raise GruEdgeError("--negatives-only needs --negatives DIR [DIR ...]")
            scores, marked, hours = score_negatives(loaded, audio, split)
            occurrences = []
        else:
            scores, occurrences, marked = score_stream(loaded, data, hours, seed, split, audio)
        result = {
            "model": str(model),
            "data": str(data),
            "split": split,
            "seed": seed,
            "negatives": [str(n) for n in negatives],
            "negatives_only": negatives_only,
            **sweep(
                scores,
                occurrences,
                meta.labels,
                meta.features,
                hours,
                detector or meta.detector,
                marked=marked,
                thresholds=None if detector else meta.thresholds,
            ),
        }
    else:
        result = clip_accuracy(model, data, num_threads, seed, split)
    if json_out:
        write_text(json_out, json.dumps(result, indent=1))
        logger.info("wrote %s", json_out)
    if plots:
        drawing = require("gru_edge.plots", "plots", "eval --plots")
        folder = Path(plots)
        folder.mkdir(parents=True, exist_ok=True)
        if streaming or negatives_only:
            written = _plot_det(drawing, result, folder)
        else:
            written = drawing.plot_clip_confusions(result, MODES, folder)
        if written:
            logger.info("wrote %s", ", ".join(str(p) for p in written))
    return result


def _plot_det(drawing, result: dict, folder: Path) -> list[Path]:
    """det.png, with a curve for each keyword the audio holds: one that never occurs (a
    stream too short, or negative audio alone) has no false rejection rate to draw."""
    present = {keyword: count for keyword, count in result["keywords"].items() if count}
    if not present:
        logger.warning("no keyword occurs in the audio, so no DET plot (it draws false rejections)")
        return []
    path = folder / "det.png"
    drawing.plot_det({**result, "keywords": present}, path)
    return [path]

"""`gru-edge eval`: clip accuracy, or streaming FRR and false accepts per hour, with a JSON
report, markdown tables and plots."""

from __future__ import annotations

import json
from pathlib import Path

from gru_edge.atomicfile import write_text
from gru_edge.config import DetectorConfig
from gru_edge.evaluation.clips import clip_accuracy
from gru_edge.evaluation.report import clip_table, plot_clip_confusions, plot_det, stream_table
from gru_edge.evaluation.streams import score_stream, sweep


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
    log=print,
) -> dict:
    """`split` "validation" is for tuning (the test figures stay honest); `detector` replaces
    the settings the model carries, to try others without a new export."""
    if streaming:
        scores, occurrences, loaded = score_stream(model, data, hours, seed, num_threads, split)
        result = {
            "model": str(model),
            "data": str(data),
            "split": split,
            "seed": seed,
            **sweep(scores, occurrences, loaded, hours, detector or loaded.metadata.detector),
        }
        table = stream_table(result)
    else:
        result = clip_accuracy(model, data, num_threads, seed, split)
        table = clip_table(result)
    log(table)
    if json_out:
        write_text(json_out, json.dumps(result, indent=1))
        log(f"wrote {json_out}")
    if plots:
        folder = Path(plots)
        folder.mkdir(parents=True, exist_ok=True)
        if streaming:
            written = [folder / "det.png"]
            plot_det(result, written[0])
        else:
            written = plot_clip_confusions(result, folder)
        log("wrote " + ", ".join(str(p) for p in written))
    return result

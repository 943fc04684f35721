"""`gru-edge train --keyword "hey kitchen"`: a custom wake word from its text, in one command.

The stages, each in its own part of RUN_DIR, each skipped when a killed or finished run
already did it (run the same command again to continue):

1. `data/`: synthetic clips of the phrase, its confusables and sentences
   (`gru_edge.keyword_data`);
2. `clips/`: a clip-recipe run starting from a backbone (the shipped model's layers by
   default, `gru_edge.training.backbone`) under a new head;
3. `stream/` (with negative audio): a stream-recipe run from it, the phrase placed inside the
   negative speech and noise, frame targets;
4. `mined/` and `mined_round/` (with `mine` audio: the user's own recordings without the
   wake word): the windows where the model fires, taught as negatives in a second round;
5. the export of the last round (`LABEL.QUANT.tflite`, thresholds calibrated on the validation
   part of the negative audio), and its evaluation: on real recordings of the phrase when
   given (`positives`), and on the test part of the negative audio (the evaluation is done
   again on a rerun);
6. `MODEL_CARD.md` and `summary.json`: voices, data, rounds, figures, runtime cost.

A model that never fires on its own validation clips, or fires on the negative audio at every
threshold, is written but reported as unfit, and the command fails.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from gru_edge import __version__
from gru_edge.atomicfile import write_text
from gru_edge.config import Config, TrainingConfig
from gru_edge.datasets import (
    AUDIO_SUFFIXES,
    LIST_FILES,
    NOISE_FOLDER,
    UNKNOWN,
    read_list,
    which_split,
)
from gru_edge.errors import GruEdgeError
from gru_edge.evaluation.calibration import HIGHEST
from gru_edge.evaluation.clips import clip_accuracy
from gru_edge.evaluation.evaluate import evaluate
from gru_edge.evaluation.mining import mine
from gru_edge.keyword_data import KeywordData, label_of, make_keyword_data
from gru_edge.training import export as exporting
from gru_edge.training import train as training
from gru_edge.training.backbone import backbone_file, load_backbone, model_config

logger = logging.getLogger(__name__)

CARD = "MODEL_CARD.md"
SUMMARY = "summary.json"
EVAL_HOURS = 1.0
REAL_HELD_OUT = (10.0, 10.0)  # validation and testing percentages of --train-on-positives
# On a CPU: a few minutes a round for a model that reaches its best within them.
CLIP_EPOCHS = 30
STREAM_EPOCHS = 15
NEVER_FIRES_FRR = 0.95  # a model that misses more of its own validation clips is unfit


class UnfitModelError(GruEdgeError):
    """The model was made and measured, and is not fit to listen with: its card says why."""


@dataclasses.dataclass
class KeywordRun:
    """What the command was asked for; the defaults are the command's."""

    phrase: str
    run_dir: Path
    count: int = 2000
    confusable_count: int | None = None
    voices: Sequence[str] = ()
    noise: Sequence[str | Path] = ()
    seed: int = 0
    jobs: int | None = None
    negatives: Sequence[str | Path] = ()
    backbone: str = "shipped"  # "" trains from scratch
    freeze_backbone: bool = False
    epochs: int = CLIP_EPOCHS
    stream_epochs: int = STREAM_EPOCHS
    positives: Path | None = None
    mine: Sequence[str | Path] = ()
    mine_min_score: float = 0.5  # the smoothed score that counts as (nearly) firing
    train_on_positives: bool = False  # 80 % of them by speaker, the rest measured on
    quantizations: Sequence[str] = ("dynamic", "float32")
    chunk_frames: int = 20
    config: Config | None = None
    eval_hours: float = EVAL_HOURS


def train_keyword(request: KeywordRun, progress=None) -> dict:
    """Runs (or continues) every stage; returns the summary written to RUN_DIR/summary.json."""
    run_dir = Path(request.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stages = ["synthesize", "train on clips"]
    stages += ["train on the stream"] if request.negatives else []
    stages += ["mine, and train on what was mined"] if request.mine else []
    stages += ["export and calibrate", "evaluate"]
    step = iter(range(1, len(stages) + 1))

    def stage(name: str) -> None:
        logger.info("[%d/%d] %s", next(step), len(stages), name)

    view, label = None, label_of(request.phrase)
    if request.train_on_positives and not request.positives:
        raise GruEdgeError("--train-on-positives needs --positives DIR")
    if request.positives:  # refused now rather than after the training
        view = positives_view(Path(request.positives), label, run_dir, request.train_on_positives)
    check_request(request, run_dir)
    stage("synthesize")
    data = make_keyword_data(
        request.phrase,
        run_dir / "data",
        request.count,
        request.confusable_count,
        request.voices,
        request.noise,
        request.seed,
        request.jobs,
        progress,
    )
    logger.info(
        "%s: %d voices, %.1f min of speech, clips of %g s",
        data.label,
        len(data.counts),
        data.seconds / 60,
        data.clip_seconds,
    )
    if request.positives:  # again, now that the synthetic held-out clips are there
        view = positives_view(Path(request.positives), label, run_dir, request.train_on_positives)
    real = link_real_positives(view, data.label, data.folder, request.train_on_positives)
    if real:
        logger.info(
            "%d real recordings of %s trained on beside the synthetic ones", real, data.label
        )
    config = _config(request, data)
    rounds = {}
    stage("train on clips")
    rounds["clips"] = _round(run_dir / "clips", data, config)
    last = run_dir / "clips"
    if request.negatives:
        stage("train on the stream")
        stream = _stream_round(config.training, last, request.stream_epochs)
        rounds["stream"] = _round(run_dir / "stream", data, replace(config, training=stream))
        last = run_dir / "stream"
    if request.mine:
        stage("mine, and train on what was mined")
        rounds["mined"] = _mining_round(run_dir, last, data, request, config)
        if rounds["mined"]["windows"]["windows"]:
            last = run_dir / "mined_round"

    stage("export and calibrate")
    out = run_dir / f"{data.label}.tflite"
    report = _exported(out, last, request.quantizations) or _export(
        last, out, request.quantizations, request, config, _description(data, request, real)
    )
    stage("evaluate")
    files = {q: Path(v["file"]) for q, v in report["variants"].items()}
    main = files[request.quantizations[0]]
    figures = _evaluate(main, data, request, view, run_dir / "eval")
    summary = {
        "phrase": request.phrase,
        "label": data.label,
        "gru_edge_version": __version__,
        "data": data.summary(),
        "real_recordings_trained_on": real,
        "backbone": str(backbone_file(request.backbone)) if request.backbone else "",
        "freeze_backbone": request.freeze_backbone,
        "rounds": rounds,
        "files": {q: {"file": str(p), "bytes": p.stat().st_size} for q, p in files.items()},
        "calibration": report["variants"][request.quantizations[0]]["thresholds"],
        "frame_detection_agreement": {
            q: v["stream"]["frame_detection_agreement"] for q, v in report["variants"].items()
        },
        "evaluation": figures,
        "runtime_us_per_10ms": runtime_cost(main),
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    summary["verdict"] = verdict(summary["calibration"], data.label)
    write_text(run_dir / SUMMARY, json.dumps(summary, indent=1))
    write_text(run_dir / CARD, model_card(summary, request))
    logger.info("wrote %s and %s", run_dir / CARD, run_dir / SUMMARY)
    if summary["verdict"] != "ok":
        raise UnfitModelError(f"{main}: {summary['verdict']}; see {run_dir / CARD}")
    return summary


REQUEST = "request.json"
# What shapes the model: a rerun with other values would mix stages of two requests.
SHAPING = (
    "phrase",
    "count",
    "confusable_count",
    "voices",
    "noise",
    "seed",
    "negatives",
    "backbone",
    "freeze_backbone",
    "epochs",
    "stream_epochs",
    "mine",
    "mine_min_score",
    "train_on_positives",
    "quantizations",
    "chunk_frames",
)


def check_request(request: KeywordRun, run_dir: Path) -> None:
    """Writes RUN_DIR/request.json on the first run; a later run must ask for the same
    model (the positives measured on and the evaluation may change, unless trained on)."""
    shaping = {key: getattr(request, key) for key in SHAPING}
    if request.train_on_positives:
        shaping["positives"] = request.positives
    shaping["config"] = (request.config or Config()).to_dict()
    shaping = json.loads(json.dumps(shaping, default=str))  # paths and tuples as JSON has them
    path = run_dir / REQUEST
    if not path.is_file():
        write_text(path, json.dumps(shaping, indent=1))
        return
    earlier = json.loads(path.read_text())
    changed = sorted(
        key for key in shaping.keys() | earlier.keys() if shaping.get(key) != earlier.get(key)
    )
    if changed:
        raise GruEdgeError(
            f"{run_dir} holds a run asked for with other settings ({', '.join(changed)}): repeat "
            f"its command to continue it, or choose another --out"
        )


def _export(
    run: Path,
    out: Path,
    quantizations: Sequence[str],
    request: KeywordRun,
    config: Config,
    description: str | None = None,
) -> dict:
    """Exports a round, its thresholds calibrated on the validation part of the negative
    audio; the agreement with Keras is measured on a stream as long as the validation one."""
    return exporting.export(
        run,
        out,
        list(quantizations),
        chunk_frames=request.chunk_frames,
        stream_minutes=min(exporting.STREAM_MINUTES, config.sequences.validation_minutes),
        data_description=description,
        negatives=list(request.negatives or request.mine) or None,
    )


def _exported(out: Path, run: Path, quantizations: Sequence[str]) -> dict | None:
    """The report of an earlier export of `run` into `out` with these quantizations, when
    its files are all there: a repeated command does not export again."""
    path = out.with_name(f"{out.stem}.report.json")
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    variants = report.get("variants", {})
    if report.get("run") != str(run) or set(variants) != set(quantizations):
        return None
    return report if all(Path(v["file"]).is_file() for v in variants.values()) else None


def _mining_round(
    run_dir: Path, last: Path, data: KeywordData, request: KeywordRun, config: Config
) -> dict:
    """The windows of the `mine` audio's training part where the last round's model fires,
    then a stream round from it with them as hard negatives (and that audio as negatives).
    Nothing mined, no round: the summary says so."""
    mined = run_dir / "mined"
    if not (run_dir / "mined_round" / "metrics.json").is_file():
        shutil.rmtree(mined, ignore_errors=True)  # windows of an unfinished round's model
        report = _export(
            last, run_dir / "mining" / f"{data.label}.tflite", ["float32"], request, config
        )
        model = report["variants"]["float32"]["file"]
        found = mine(model, list(request.mine), mined, "train", request.mine_min_score)
        write_text(run_dir / "mining" / "mined.json", json.dumps(found, indent=1))
    found = json.loads((run_dir / "mining" / "mined.json").read_text())
    if not found["windows"]:
        logger.info("nothing mined: the model fires nowhere in that audio; no second round")
        return {"windows": found}
    previous = Config.from_toml(last / "config.toml")
    round_config = replace(
        previous,
        data=replace(
            previous.data,
            negatives=tuple(dict.fromkeys((*previous.data.negatives, *map(str, request.mine)))),
            hard_negatives=(str(mined),),
        ),
        training=_stream_round(config.training, last, request.stream_epochs),
    )
    return {**_round(run_dir / "mined_round", data, round_config), "windows": found}


def _stream_round(first: TrainingConfig, last: Path, epochs: int) -> TrainingConfig:
    """A stream-recipe round that starts from the whole model of the round before, at a
    third of the first round's learning rate (fine-tuning, not training anew)."""
    return replace(
        first,
        recipe="stream",
        backbone="",
        init_from=str(last),
        epochs=epochs,
        learning_rate=first.learning_rate / 3,
        warmup_epochs=1,
    )


def _config(request: KeywordRun, data: KeywordData) -> Config:
    """The first round's settings: the phrase as the only word, clips as long as the data's,
    every confusable as an unknown clip, the backbone's model."""
    config = request.config or Config()
    model = model_config(load_backbone(request.backbone)) if request.backbone else config.model
    return replace(
        config,
        data=replace(
            config.data,
            words=(data.label,),
            clip_ms=data.clip_seconds * 1000,
            unknown_percentage=100.0,
            # Noise at any level is not the word: as many silence clips as half the word's,
            # so that a sound the synthetic data never had falls to silence, not to the word.
            silence_percentage=50.0,
            negatives=tuple(str(n) for n in request.negatives),
        ),
        model=model,
        training=replace(
            config.training,
            recipe="clips",
            epochs=request.epochs,
            backbone=request.backbone,
            freeze_backbone=request.freeze_backbone,
            early_stopping_patience=min(config.training.early_stopping_patience, 10),
            # One word against the rest: smoothed targets would cap its score near 0.93,
            # below the thresholds that hold false accepts to one in hours.
            label_smoothing=0.0,
        ),
    )


def _round(run_dir: Path, data: KeywordData, config: Config) -> dict:
    """One training run, continued when a killed command left it half done."""
    if not (run_dir / "metrics.json").is_file():
        resume = (run_dir / "config.toml").is_file()
        training.train(data.folder, run_dir, config=None if resume else config, resume=resume)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "run": str(run_dir),
        "recipe": metrics["recipe"],
        "epochs": metrics["epochs_trained"],
        "best_epoch": metrics["best_epoch"],
        "seconds": metrics["training_seconds"],
        "devices": metrics["devices"],
        "validation_accuracy": metrics["validation"]["accuracy"],
    }


def _description(data: KeywordData, request: KeywordRun, real: int) -> str:
    voices = ", ".join(data.counts)
    backbone = f"; backbone {backbone_file(request.backbone).name}" if request.backbone else ""
    recordings = f" and {real} real recordings" if real else ""
    phrase = request.phrase
    return (
        f"synthetic speech of {phrase!r} from {len(data.counts)} voices ({voices}){recordings}"
        f"{backbone}"
    )


def _evaluate(
    model: Path, data: KeywordData, request: KeywordRun, view: Path | None, folder: Path
) -> dict:
    """The figures of the card: the synthetic validation clips; the real recordings of
    `positives` as clips, over a stream inside the test part of the negative audio, and over
    the noise floor alone; that negative audio alone."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {}
    synthetic = clip_accuracy(model, data.folder, split="validation")
    figures["synthetic_validation_recall"] = synthetic["reset"]["per_class"][data.label]["accuracy"]
    negatives = list(request.negatives)
    if view:
        clips = evaluate(model, view, json_out=folder / "positives.clips.json")
        figures["positives_clip_recall"] = clips["reset"]["per_class"][data.label]["accuracy"]
        stream = evaluate(
            model,
            view,
            streaming=True,
            hours=request.eval_hours,
            negatives=negatives,
            json_out=folder / "positives.stream.json",
        )
        figures["positives_stream"] = _stream_figures(stream)
        quiet = evaluate(  # the same keywords over the noise floor alone, nobody talking
            model,
            view,
            streaming=True,
            hours=request.eval_hours,
            json_out=folder / "positives.noise_stream.json",
        )
        figures["positives_noise_stream"] = _stream_figures(quiet)
    if negatives:
        alone = evaluate(
            model,
            data.folder,
            negatives_only=True,
            negatives=negatives,
            json_out=folder / "negatives.json",
        )
        figures["negatives"] = {
            "hours": alone["hours"],
            "fa_per_hour": alone["at_model_threshold"]["fa_per_hour"],
        }
    return figures


def _stream_figures(result: dict) -> dict:
    best = result["frr_at_fa_per_hour"]["overall"]
    default = result["at_model_threshold"]
    return {
        "hours": result["hours"],
        "keywords": sum(result["keywords"].values()),
        "recall": 1 - default["frr"],
        "fa_per_hour": default["fa_per_hour"],
        "recall_at_0.5_fa_per_hour": 1 - best["frr"] if best else 0.0,
        "threshold_at_0.5_fa_per_hour": best["threshold"] if best else None,
    }


def positives_view(positives: Path, label: str, run_dir: Path, train_share: bool = False) -> Path:
    """RUN_DIR/eval/positives/: a test-only dataset of real recordings of the phrase, made of
    links; every recording of the phrase is a test clip (with `train_share`, but those the
    speaker-hash rule puts in training, `datasets.which_split`: they are trained on).
    `positives` is either in the folder-per-word layout with a folder named like the label
    (its other words are the stream's, only their held-out clips: those on its lists, or
    without lists those the speaker-hash rule holds out, so that their training clips can be
    negatives; its noise is the noise floor), or a plain folder of recordings of the phrase
    (then the other words are the synthetic unknown clips of RUN_DIR/data's validation list,
    never trained on)."""
    if not positives.is_dir():
        raise GruEdgeError(f"--positives {positives} is not a folder of recordings")
    view = run_dir / "eval" / "positives"
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    if (positives / label).is_dir():
        for folder in sorted(p for p in positives.iterdir() if p.is_dir()):
            (view / folder.name).symlink_to(folder.resolve())
        held_out = set().union(
            *(read_list(positives / name) or set() for name in LIST_FILES.values())
        )
    else:
        (view / label).symlink_to(positives.resolve())
        (view / UNKNOWN).symlink_to((run_dir / "data" / UNKNOWN).resolve())
        held_out = read_list(run_dir / "data" / LIST_FILES["validation"]) or set()

    def tested(folder: str, recording: Path) -> bool:
        if folder == label:
            return not (train_share and _trained_on(recording))
        if held_out or folder == UNKNOWN:
            return f"{folder}/{recording.name}" in held_out
        return not _trained_on(recording)

    recordings = [
        f"{folder.name}/{audio.name}"
        for folder in sorted(view.iterdir())
        if folder.name != NOISE_FOLDER and folder.exists()
        for audio in sorted(folder.iterdir())
        if audio.suffix.lower() in AUDIO_SUFFIXES and tested(folder.name, audio)
    ]
    if not any(name.startswith(f"{label}/") for name in recordings):
        raise GruEdgeError(
            f"--positives {positives}: no recording ({', '.join(sorted(AUDIO_SUFFIXES))}) of "
            f"{label}, directly in it or in {positives / label}"
        )
    write_text(view / LIST_FILES["test"], "".join(f"{name}\n" for name in recordings))
    return view


def _trained_on(recording: Path) -> bool:
    return which_split(recording, *REAL_HELD_OUT) == "train"


def link_real_positives(view: Path, label: str, data: Path, train: bool) -> int:
    """Links the training share of the real recordings in `view` (see `positives_view`)
    into the synthetic data's folder of the phrase when `train`; returns how many. Links an
    earlier run made are removed first: a run without --train-on-positives trains on none."""
    for link in (data / label).glob("real-*"):
        if link.is_symlink():
            link.unlink()
    if not train:
        return 0
    linked = 0
    for recording in sorted((view / label).iterdir()):
        if recording.suffix.lower() in AUDIO_SUFFIXES and _trained_on(recording):
            (data / label / f"real-{recording.name}").symlink_to(recording.resolve())
            linked += 1
    return linked


def verdict(calibration: dict, label: str) -> str:
    """ "ok", or why the model is unfit: it finds none of its validation keywords at its
    calibrated threshold, or no threshold keeps it under 10x the false-accept target."""
    if calibration.get("frr") is not None and calibration["frr"] > NEVER_FIRES_FRR:
        return (
            f"never fires: it found {(1 - calibration['frr']) * 100:.1f} % of its validation "
            f"clips at its calibrated threshold"
        )
    if (
        calibration["thresholds"].get(label) == HIGHEST
        and calibration["fa_per_hour"] > 10 * calibration["target_fa_per_hour"]
    ):
        return (
            f"fires on everything: {calibration['fa_per_hour']:.1f} false accepts per hour on "
            f"the validation audio at the highest threshold"
        )
    return "ok"


def runtime_cost(model: Path, seconds: float = 60.0, block_ms: float = 100.0) -> float:
    """Microseconds of CPU per 10 ms of audio through the whole runtime (front end, model,
    detector), fed `block_ms` blocks of quiet noise, one thread: what `make bench` measures."""
    from gru_edge.runtime.spotter import KeywordSpotter

    spotter = KeywordSpotter(model)
    rate = spotter.metadata.features.sample_rate
    noise = (np.random.default_rng(0).standard_normal(int(seconds * rate)) * 0.01).astype(
        np.float32
    )
    block = int(rate * block_ms / 1000)
    spotter.process(noise[:rate])  # loads and warms the interpreter
    start = time.process_time()
    for at in range(0, len(noise), block):
        spotter.process(noise[at : at + block])
    return round((time.process_time() - start) * 1e6 / (seconds * 100), 2)


def model_card(summary: dict, request: KeywordRun) -> str:
    """The card the command writes beside the model: what it is, from what, how good."""
    data = summary["data"]
    lines = [
        f"# Wake word {summary['phrase']!r} (`{summary['label']}`)",
        "",
        f"Made by `gru-edge train --keyword` (gru_edge {summary['gru_edge_version']}) in "
        f"{summary['minutes']} min. Verdict: **{summary['verdict']}**.",
        "",
        "## Files",
        "",
        "| file | bytes | runtime µs per 10 ms |",
        "|---|---:|---:|",
    ]
    for quantization, file in summary["files"].items():
        cost = summary["runtime_us_per_10ms"] if quantization == request.quantizations[0] else ""
        lines.append(f"| {file['file']} | {file['bytes']:,} | {cost} |")
    lines += [
        "",
        f"Listen with `gru-edge listen {summary['files'][request.quantizations[0]]['file']}`.",
        "",
        "## Data: "
        + (
            f"synthetic speech and {summary['real_recordings_trained_on']} real recordings of "
            f"the phrase (from {request.positives})"
            if summary["real_recordings_trained_on"]
            else "synthetic speech only"
        ),
        "",
        f"{sum(k.get('positive', 0) for k in data['counts'].values())} clips of the phrase and "
        f"{sum(k.get('confusable', 0) for k in data['counts'].values())} of its confusables "
        f"and {sum(k.get('sentence', 0) for k in data['counts'].values())} sentences, "
        f"{data['seconds'] / 60:.1f} min of clean speech, in clips of {data['clip_seconds']} s "
        f"through simulated rooms and microphones"
        + (f" with noise from {', '.join(map(str, request.noise))}" if request.noise else "")
        + ". Real negative audio: "
        + (", ".join(map(str, request.negatives)) if request.negatives else "none")
        + ".",
        "",
        "| voice | phrase | confusables | sentences |",
        "|---|---:|---:|---:|",
        *(
            f"| {voice} | {kinds.get('positive', 0)} | {kinds.get('confusable', 0)} | "
            f"{kinds.get('sentence', 0)} |"
            for voice, kinds in data["counts"].items()
        ),
        "",
        "## Training",
        "",
        f"Backbone: {summary['backbone'] or 'none (from scratch)'}"
        + (" (frozen)" if summary["freeze_backbone"] else "")
        + ".",
        "",
        "| round | recipe | epochs (best) | seconds | validation accuracy |",
        "|---|---|---|---:|---:|",
        *(
            f"| {name} | {r['recipe']} | {r['epochs']} ({r['best_epoch']}) | {r['seconds']} | "
            f"{r['validation_accuracy']:.3f} |"
            for name, r in summary["rounds"].items()
            if "recipe" in r
        ),
        "",
        *_mining_lines(summary["rounds"].get("mined")),
        "## Figures",
        "",
    ]
    calibration = summary["calibration"]
    figures = summary["evaluation"]
    lines.append(
        f"- Threshold {calibration['thresholds'][summary['label']]}, calibrated to "
        f"{calibration['target_fa_per_hour']} false accepts per hour on "
        f"{calibration['hours'] * 60:.0f} min of validation audio (there: "
        f"{calibration['fa_per_hour']:.2f} per hour, FRR "
        f"{_percent(calibration['frr'])})."
    )
    lines.append(
        f"- Synthetic validation clips found: {_percent(figures['synthetic_validation_recall'])}."
    )
    if "positives_clip_recall" in figures:
        stream, quiet = figures["positives_stream"], figures["positives_noise_stream"]
        lines += [
            f"- Real recordings ({request.positives}), one clip at a time: "
            f"{_percent(figures['positives_clip_recall'])} found.",
            f"- The same over a {stream['hours']:g} h stream inside the negative audio's test "
            f"part ({stream['keywords']} keywords): {_percent(stream['recall'])} found at "
            f"{stream['fa_per_hour']:.1f} false accepts per hour at the model's threshold; "
            f"{_percent(stream['recall_at_0.5_fa_per_hour'])} at <= 0.5 per hour (threshold "
            f"{stream['threshold_at_0.5_fa_per_hour']}).",
            f"- The same keywords and other words over the noise floor alone: "
            f"{_percent(quiet['recall_at_0.5_fa_per_hour'])} found at <= 0.5 false accepts per "
            f"hour (threshold {quiet['threshold_at_0.5_fa_per_hour']}); "
            f"{_percent(quiet['recall'])} at {quiet['fa_per_hour']:.1f} per hour at the model's "
            f"threshold.",
        ]
    else:
        lines.append(
            "- No real recording of the phrase was given (`--positives DIR`): how it does on "
            "real voices is not measured."
        )
    if "negatives" in figures:
        lines.append(
            f"- The negative audio's test part alone ({figures['negatives']['hours'] * 60:.0f} "
            f"min): {figures['negatives']['fa_per_hour']:.1f} false accepts per hour."
        )
    lines += [
        "",
        "The voices are credited to their engines: espeak-ng (GPL-3+), flite and festival "
        "(CMU and BSD-style licenses), Pico (Apache-2.0), Piper's en_US-joe (CC0).",
        "",
    ]
    return "\n".join(lines)


def _mining_lines(mined: dict | None) -> list[str]:
    if not mined:
        return []
    found = mined["windows"]
    line = (
        f"Mining: {found['windows']} windows where the model fired in {found['hours']:.2f} h of "
        f"the mined audio's training part (score >= {found['min_score']})"
    )
    return [line + ("." if found["windows"] else ": no second round."), ""]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"

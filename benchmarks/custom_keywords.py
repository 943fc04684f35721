"""The honest test of custom wake words: models of real keywords from synthetic speech only.

For each of `--words` (default: stop, left), `gru-edge train --keyword WORD` makes a model from
synthetic voices alone and is measured on every real recording of the word in `--data` (a
Speech Commands layout): over a stream of its other words inside the test part of the negative
audio, over the noise floor alone, and one clip at a time. Real speech that is not the word
is trained on as negative audio: `--negatives` and the training clips of the dataset's other
words (the stream's other words are their held-out clips). No real recording of the word is
ever trained on: the backbone is not the shipped model (which heard them) but one trained here
on `--data` with the words removed altogether (not even as unknown words), by the shipped
model's recipe (`--backbone-config`, default models/kws12/config.toml) minus its words.

    .venv/bin/python benchmarks/custom_keywords.py --data ../shared/data/speech_commands \
        --negatives NEG ... --noise NOISE ... --work runs/custom_keywords \
        [--words stop left] [--count 800] [--stream-epochs 15] [--hours 2]

Every stage is skipped when done (run it again to continue). Writes JSON (default
benchmarks/results/custom_keywords.json) and prints a markdown table. About 25 min a word and
15 min for the backbone on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gru_edge.atomicfile import write_text  # noqa: E402
from gru_edge.config import Config  # noqa: E402
from gru_edge.datasets import LIST_FILES, read_list, which_split  # noqa: E402
from gru_edge.training.keyword import (  # noqa: E402
    REAL_HELD_OUT,
    KeywordRun,
    UnfitModelError,
    train_keyword,
)
from gru_edge.training.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BACKBONE_EPOCHS = 100
BACKBONE_PATIENCE = 30


def without_words(data: Path, words: list[str], view: Path) -> Path:
    """`data` as links, the folders of `words` left out and their clips off the lists."""
    view.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in data.iterdir() if p.is_dir() and p.name not in words):
        if not (view / folder.name).exists():
            (view / folder.name).symlink_to(folder.resolve())
    for name in LIST_FILES.values():
        if (data / name).is_file():
            kept = [
                line
                for line in (data / name).read_text().splitlines()
                if line.split("/")[0] not in words
            ]
            write_text(view / name, "".join(f"{line}\n" for line in kept))
    return view


def other_words(data: Path, word: str, out: Path) -> Path:
    """The training clips (on neither list) of every other word in `data`, as links in one
    folder per word: real speech that is not the word, taught as negative audio. The
    evaluation's stream of other words takes only their listed clips (`positives_view`)."""
    listed = set().union(*(read_list(data / name) or set() for name in LIST_FILES.values()))
    for folder in sorted(p for p in data.iterdir() if p.is_dir() and p.name != word):
        if folder.name.startswith("_"):
            continue
        (out / folder.name).mkdir(parents=True, exist_ok=True)
        for clip in sorted(folder.glob("*.wav")):
            link = out / folder.name / clip.name
            # without lists, the speaker-hash rule holds clips out, as positives_view does
            held_out = (
                f"{folder.name}/{clip.name}" in listed
                if listed
                else which_split(clip, *REAL_HELD_OUT) != "train"
            )
            if not held_out and not link.exists():
                link.symlink_to(clip.resolve())
    return out


def backbone(data: Path, words: list[str], work: Path, config_path: Path) -> Path:
    """The backbone: the shipped recipe on `data` without `words`."""
    run = work / "backbone"
    if (run / "metrics.json").is_file():
        return run
    config = Config.from_toml(config_path)
    others = tuple(w for w in config.data.words if w not in words)
    config = replace(
        config,
        data=replace(config.data, words=others),
        training=replace(
            config.training, epochs=BACKBONE_EPOCHS, early_stopping_patience=BACKBONE_PATIENCE
        ),
    )
    resume = (run / "config.toml").is_file()
    view = without_words(data, words, work / "data_without_words")
    train(view, run, config=None if resume else config, resume=resume)
    return run


def figures(run: Path, word: str) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    found = summary["evaluation"]
    talk, quiet = found["positives_stream"], found["positives_noise_stream"]
    return {
        "verdict": summary["verdict"],
        "voices": len(summary["data"]["counts"]),
        "clips": summary["data"]["counts"],
        "real_clip_recall": found["positives_clip_recall"],
        "inside_speech": talk,
        "noise_floor": quiet,
        "negatives_alone_fa_per_hour": found["negatives"]["fa_per_hour"],
        "threshold": summary["calibration"]["thresholds"][word],
        "runtime_us_per_10ms": summary["runtime_us_per_10ms"],
        "minutes": summary["minutes"],
    }


def table(results: dict) -> str:
    lines = [
        "| word | real clips found | inside speech: recall at <= 0.5 FA/h | over noise: recall "
        "at <= 0.5 FA/h | at its threshold inside speech: recall / FA/h | negative audio "
        "alone: FA/h | µs per 10 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for word, r in results.items():
        talk, quiet = r["inside_speech"], r["noise_floor"]
        lines.append(
            f"| {word} | {r['real_clip_recall'] * 100:.1f} % | "
            f"{talk['recall_at_0.5_fa_per_hour'] * 100:.1f} % | "
            f"{quiet['recall_at_0.5_fa_per_hour'] * 100:.1f} % | "
            f"{talk['recall'] * 100:.1f} % / {talk['fa_per_hour']:.1f} | "
            f"{r['negatives_alone_fa_per_hour']:.1f} | {r['runtime_us_per_10ms']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--negatives", type=Path, nargs="+", required=True)
    parser.add_argument("--noise", type=Path, nargs="*", default=[])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--words", nargs="+", default=["stop", "left"])
    parser.add_argument("--count", type=int, default=800)
    parser.add_argument("--stream-epochs", type=int, default=15)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--backbone-config", type=Path, default=ROOT / "models/kws12/config.toml")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/custom_keywords.json"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    start = backbone(args.data, args.words, args.work, args.backbone_config)
    results = {}
    for word in args.words:
        run = args.work / word
        request = KeywordRun(
            word,
            run,
            count=args.count,
            noise=args.noise,
            negatives=[*args.negatives, other_words(args.data, word, args.work / f"not_{word}")],
            backbone=str(start),
            stream_epochs=args.stream_epochs,
            positives=args.data,
            eval_hours=args.hours,
        )
        try:
            train_keyword(request)
        except UnfitModelError as e:  # an unfit model is a result too: its card says why
            logging.warning("%s", e)
        results[word] = figures(run, word)
    report = {"command": sys.argv, "backbone": str(start), "words": results}
    write_text(args.out, json.dumps(report, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()

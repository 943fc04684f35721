"""`gru-edge train`: a keyword spotter from a folder of clips, or (--keyword) a custom wake
word from its text: synthesize, train, export, calibrate, evaluate (needs the `train` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gru_edge.commands.shared import add_negatives_option
from gru_edge.commands.synth import add_synth_options, synth_settings
from gru_edge.config import RECIPES, Config
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require


def add_parser(commands) -> None:
    command = commands.add_parser(
        "train",
        help="train a keyword spotter on a folder of clips, or a wake word from its text",
        description=__doc__,
    )
    source = command.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", type=Path, help="one folder of clips per word (the Speech Commands layout)"
    )
    source.add_argument(
        "--keyword",
        metavar="PHRASE",
        help='a custom wake word, e.g. "hey kitchen": from synthetic voices to a calibrated, '
        "evaluated model and its model card in --out (the options below)",
    )
    command.add_argument("--out", type=Path, required=True, help="the run folder to write")
    command.add_argument("--config", type=Path, help="a TOML settings file (see `gru-edge config`)")
    command.add_argument("--words", help="the keywords, comma-separated (default: data.words)")
    command.add_argument(
        "--epochs",
        type=int,
        help="number of epochs (default: training.epochs; with --keyword, 30 for its clip round)",
    )
    add_negatives_option(
        command,
        "folders of audio with no keyword (speech, music, noise; any length and format), "
        "split by subfolder into train/validation/test (default: data.negatives)",
    )
    command.add_argument(
        "--recipe",
        choices=RECIPES,
        help="stream: long sequences with frame targets, chosen on validation streams; "
        "clips: isolated clips, chosen on clip accuracy (default: training.recipe)",
    )
    command.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last complete epoch",
    )
    custom = command.add_argument_group("a custom wake word (--keyword)")
    add_synth_options(custom)
    custom.add_argument(
        "--backbone",
        default="shipped",
        help="the model whose layers start the new one: 'shipped' (kws12, trained on real "
        "speech), a run folder, a .keras file, or 'none' to train from scratch "
        "(default: shipped)",
    )
    custom.add_argument("--freeze-backbone", action="store_true", help="train only the new head")
    custom.add_argument(
        "--stream-epochs",
        type=int,
        default=15,
        help="epochs of the stream round, with --negatives (default 15)",
    )
    custom.add_argument(
        "--positives",
        type=Path,
        metavar="DIR",
        help="real recordings of the wake word to measure the model on: a folder of them, or "
        "a folder per word holding one named like the wake word (LABEL: spaces as _)",
    )
    custom.add_argument(
        "--train-on-positives",
        action="store_true",
        help="train on 80 %% of the --positives recordings too (split by speaker, as Speech "
        "Commands names them), and measure on the rest",
    )
    custom.add_argument(
        "--mine",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="your own recordings without the wake word: where the model fires in them is "
        "taught as negatives in a second round",
    )
    custom.add_argument(
        "--eval-hours", type=float, default=1.0, help="the --positives stream (default 1)"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.keyword:
        ignored = [f"--{name}" for name in ("words", "recipe", "resume") if getattr(args, name)]
        if ignored:
            raise GruEdgeError(
                f"{', '.join(ignored)} cannot go with --keyword: the word is the phrase, the "
                f"rounds are fixed, and the same command again continues a run"
            )
        run_keyword(args)
        return
    training = require("gru_edge.training.train", "train", "gru-edge train")
    config = Config.from_toml(args.config) if args.config else None
    words = tuple(w.strip() for w in args.words.split(",") if w.strip()) if args.words else None
    training.train(
        args.data,
        args.out,
        config=config,
        words=words,
        epochs=args.epochs,
        resume=args.resume,
        negatives=args.negatives,
        recipe=args.recipe,
    )


def run_keyword(args: argparse.Namespace) -> None:
    keyword = require("gru_edge.training.keyword", "train", "gru-edge train --keyword")
    from gru_edge.commands.shared import print_progress

    request = keyword.KeywordRun(
        phrase=args.keyword,
        run_dir=args.out,
        **synth_settings(args),
        negatives=args.negatives or (),
        backbone="" if args.backbone == "none" else args.backbone,
        freeze_backbone=args.freeze_backbone,
        epochs=args.epochs or keyword.CLIP_EPOCHS,
        stream_epochs=args.stream_epochs,
        positives=args.positives,
        train_on_positives=args.train_on_positives,
        mine=args.mine or (),
        config=Config.from_toml(args.config) if args.config else None,
        eval_hours=args.eval_hours,
    )
    keyword.train_keyword(
        request, progress=lambda stage, done, total: print_progress(done, total, stage)
    )
    print(Path(args.out / keyword.CARD).read_text())

"""`gru-edge synth PHRASE --out DIR`: training clips of a custom wake word, from its text.

Every offline text-to-speech voice installed (`make voices` adds more) says the phrase at
random rates and pitches; each clip goes through a simulated room and microphone
(reverberation, --noise recordings, band-limiting, level) into DIR/LABEL/ ("hey kitchen" ->
DIR/hey_kitchen/), and what is not the word into DIR/_unknown_/: its confusables ("hey
chicken", "kitchen", "hey kit", ...) and random sentences: the folder-per-label layout of
`gru-edge train --data DIR --words LABEL`.
DIR/manifest.jsonl says how each clip was made; the clean speech is cached in DIR/_tts_/.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(commands) -> None:
    command = commands.add_parser(
        "synth",
        help="synthesize training clips of a custom wake word, and of words near it",
        description=__doc__,
    )
    add_synth_options(command)
    command.add_argument("phrase", help='the wake word, e.g. "hey kitchen"')
    command.add_argument("--out", type=Path, required=True, help="the output folder")
    command.set_defaults(run=run)


def add_synth_options(command: argparse.ArgumentParser) -> None:
    """The options `gru-edge train --keyword` shares."""
    command.add_argument(
        "--count",
        type=int,
        default=2000,
        help="clips of the phrase, shared equally by the voices (default 2000)",
    )
    command.add_argument(
        "--confusables",
        type=int,
        metavar="COUNT",
        help="clips of what is not the word, half confusables, half sentences (default: as "
        "many as --count)",
    )
    command.add_argument(
        "--voices",
        nargs="+",
        metavar="ENGINE[:VOICE]",
        help="only these, e.g. flite piper festival:kal_diphone (default: every voice installed)",
    )
    command.add_argument(
        "--noise",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="folders of background noise (any audio), mixed into 40 %% of the clips and cut "
        "into the silence clips (default: none)",
    )
    command.add_argument("--seed", type=int, default=0)
    command.add_argument(
        "--jobs", type=int, default=os.cpu_count(), help="clips made at once (default: cores)"
    )


def synth_settings(args: argparse.Namespace) -> dict:
    """The options of `add_synth_options` as keyword arguments of `make_keyword_data` (and of
    `KeywordRun`, which names them alike)."""
    return {
        "count": args.count,
        "confusable_count": args.confusables,
        "voices": args.voices or (),
        "noise": args.noise,
        "seed": args.seed,
        "jobs": args.jobs,
    }


def run(args: argparse.Namespace) -> None:
    from gru_edge.commands.shared import print_progress
    from gru_edge.keyword_data import make_keyword_data

    out = args.out
    data = make_keyword_data(
        args.phrase,
        out,
        **synth_settings(args),
        progress=lambda stage, done, total: print_progress(done, total, stage),
    )
    print(f"{'voice':<34} {'phrase':>6} {'near':>5} {'sentences':>9}")
    for voice, kinds in data.counts.items():
        made = (kinds.get(kind, 0) for kind in ("positive", "confusable", "sentence"))
        print(f"{voice:<34} {next(made):>6} {next(made):>5} {next(made):>9}")
    failed = f", {data.failed} failed (see the warnings)" if data.failed else ""
    print(
        f"{data.seconds / 60:.1f} minutes of speech{failed}; clips of {data.clip_seconds:g} s "
        f"in {out}/{data.label}/ and {out}/_unknown_/ (manifest.jsonl says how each was made)"
    )

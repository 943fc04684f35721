"""`gru-edge synth-negatives`: speech that is not a keyword, from every offline voice here.

Every offline text-to-speech voice installed (`make voices` adds more) says words and
phrases near the keywords in sound and spelling, and random sentences, at random rates and
pitches: 16 kHz WAVs in one folder per voice (OUT/ENGINE-VOICE/), with OUT/manifest.jsonl.
Clips already in OUT are not made again.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path


def add_parser(commands) -> None:
    command = commands.add_parser(
        "synth-negatives",
        help="synthesize negative speech: words that sound like the keywords, random sentences",
        description=__doc__,
    )
    command.add_argument("--keywords", required=True, help="the keywords, comma-separated")
    command.add_argument("--out", type=Path, required=True, help="the output folder")
    command.add_argument(
        "--count",
        type=int,
        default=2000,
        help="clips, shared equally by the voices, half words, half sentences (default 2000: "
        "about 45 minutes)",
    )
    command.add_argument(
        "--voices",
        nargs="+",
        metavar="ENGINE[:VOICE]",
        help="only these, e.g. flite piper festival:kal_diphone (default: every voice installed)",
    )
    command.add_argument("--seed", type=int, default=0)
    command.add_argument(
        "--jobs", type=int, default=os.cpu_count(), help="clips made at once (default: cores)"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from gru_edge.commands.shared import print_progress
    from gru_edge.synth import MANIFEST, find_voices, negative_texts, plan, synthesize

    keywords = [word.strip() for word in args.keywords.split(",") if word.strip()]
    voices = find_voices(args.voices or ())
    print(f"{len(voices)} voices: {', '.join(voice.id for voice in voices)}")
    clips = plan(negative_texts(keywords, args.count, args.seed), voices, args.seed)
    statuses, seconds = Counter(), Counter()
    for done, outcome in enumerate(synthesize(clips, args.out, args.jobs), 1):
        statuses[outcome.clip.folder, outcome.status] += 1
        seconds[outcome.clip.folder] += outcome.seconds
        print_progress(done, len(clips), "clips")
    print(f"{'voice':<34} {'made':>5} {'cached':>6} {'failed':>6} {'minutes':>7}")
    for voice in voices:
        made, cached, failed = (statuses[voice.id, s] for s in ("made", "cached", "failed"))
        print(f"{voice.id:<34} {made:>5} {cached:>6} {failed:>6} {seconds[voice.id] / 60:>7.1f}")
    print(
        f"{sum(seconds.values()) / 60:.1f} minutes of speech in {args.out}/ "
        f"({args.out / MANIFEST} says how each clip was made)"
    )

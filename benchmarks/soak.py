"""Soak: a day of hostile audio through one KeywordSpotter, faster than real time.

Streams `--hours` (default 24) of seeded audio made on the fly (white and pink noise at random
levels, espeak-ng speech and keywords, the demo recording's keywords over noise, digital
silence and denormals, hard clipping and full-scale square waves, DC offsets, sudden level
jumps) through ONE runtime instance in 100 ms blocks, as from a microphone, and records every
minute of audio: resident memory, the norm of each carried model state, the top keyword score
and the detections. Then streams the same audio through fresh instances in other block sizes
and compares. Checks, written to the JSON with pass/fail:

- resident memory (RssAnon: what the process allocated, see `resident_kb`) flat within 1 MB
  after the warm-up (the first `--warmup-minutes` of audio);
- no NaN or inf in any score or state, every score in [0, 1];
- the detections (keyword, frame, score) and the scores themselves (a SHA-256 of them at
  every hour of audio) identical in every block size.

The audio is made in a child process and piped to this one as raw float32, the way `arecord`
feeds a device: the memory measured is the runtime's, not the generator's, and the two run on
two cores. Writes JSON (default benchmarks/results/soak.json) and a PNG beside it, prints a
markdown table, exits 1 if a check fails.

    .venv/bin/python benchmarks/soak.py [--hours 24] [--model MODEL] [--out soak.json]
        [--compare 16000 592:6 160:2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, as on a device that listens all day

import argparse  # noqa: E402
import fcntl  # noqa: E402
import hashlib  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from common import environment, write_report  # noqa: E402

from gru_edge.audio import SAMPLE_RATE, read_audio  # noqa: E402
from gru_edge.config import FeatureConfig  # noqa: E402
from gru_edge.errors import GruEdgeError, exit_status  # noqa: E402
from gru_edge.extras import require  # noqa: E402
from gru_edge.features import num_frames  # noqa: E402
from gru_edge.runtime.spotter import KeywordSpotter, default_model  # noqa: E402
from gru_edge.synth import ENGINES, Clip, make_clip, random_sentences  # noqa: E402

DEMO_WAV = Path(__file__).resolve().parent.parent / "examples" / "demo.wav"
BLOCK = 1600  # the soak's own block: 100 ms, what `gru-edge listen` reads from a microphone
MEMORY_LIMIT_KB = 1024
FRAMES_PER_HOUR = 360_000  # 10 ms frames: where the score digests are taken
SEGMENT_SECONDS = (2.0, 20.0)
PIPE_BYTES = 1 << 20


class SoakError(GruEdgeError):
    """The soak cannot run here (espeak-ng missing, a block size that is not one)."""


# ---- the audio ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """Recorded sounds the generator mixes: speech clips (sentences and the model's keywords
    said by espeak-ng) and the demo recording (real keywords over noise)."""

    speech: list[np.ndarray]
    demo: np.ndarray


def make_material(keywords: tuple[str, ...], seed: int) -> Material:
    """Renders the speech once, at start: a few sentences and every keyword, one clip each."""
    if not ENGINES["espeak-ng"].voices():
        raise SoakError("the soak's speech needs espeak-ng: apt install espeak-ng")
    texts = random_sentences(4, seed, keywords) + list(keywords)
    with tempfile.TemporaryDirectory(prefix="gru_edge_soak_") as folder:
        speech = []
        for i, text in enumerate(texts):
            path = Path(folder) / f"{i}.wav"
            make_clip(Clip("espeak-ng", "en-us", "", 1.0, 1.0, text), path)
            speech.append(read_audio(path))
    return Material(speech, read_audio(DEMO_WAV))


def db(level: float) -> float:
    return 10 ** (level / 20)


class SoakAudio:
    """The seeded audio of the soak, segment after segment: the same samples for the same seed,
    in pieces whose size does not depend on how they are consumed."""

    def __init__(self, material: Material, seed: int) -> None:
        self.material = material
        self.rng = np.random.default_rng(seed)
        self.pink_shapes: dict[int, np.ndarray] = {}  # FFT size -> 1/sqrt(f), made once
        self.kinds = {
            "white noise": self.white_noise,
            "pink noise": self.pink_noise,
            "speech": self.speech,
            "keywords": self.keywords,
            "silence": self.silence,
            "clipping": self.clipping,
            "dc offset": self.dc_offset,
            "level jumps": self.level_jumps,
        }

    def segments(self, total: int):
        """(kind, float32 samples) until `total` samples have been made."""
        kinds = list(self.kinds)
        made = 0
        while made < total:
            kind = kinds[self.rng.integers(len(kinds))]
            length = round(self.rng.uniform(*SEGMENT_SECONDS) * SAMPLE_RATE)
            samples = self.kinds[kind](length)[: total - made]
            made += len(samples)
            yield kind, np.clip(samples, -1.0, 1.0).astype(np.float32)

    def white(self, length: int, level: float) -> np.ndarray:
        return self.rng.standard_normal(length, np.float32) * np.float32(db(level))

    def pink(self, length: int, level: float) -> np.ndarray:
        """1/f noise, shaped in the frequency domain, at an RMS of `level` dBFS."""
        size = 1 << (length - 1).bit_length()  # a power of two: FFTs of other sizes are slow
        if size not in self.pink_shapes:
            bins = np.arange(size // 2 + 1, dtype=np.float32)
            self.pink_shapes[size] = np.where(bins > 0, 1 / np.sqrt(np.maximum(bins, 1)), 0)
        spectrum = np.fft.rfft(self.rng.standard_normal(size, np.float32))
        spectrum *= self.pink_shapes[size]
        noise = np.fft.irfft(spectrum, size)[:length]
        return noise * np.float32(db(level) / max(float(np.sqrt(np.mean(noise**2))), 1e-12))

    def talk(self, length: int) -> np.ndarray:
        """Speech clips one after another with pauses, each at its own level."""
        out = np.zeros(length)
        at = round(self.rng.uniform(0, 0.5) * SAMPLE_RATE)
        while at < length:
            clip = self.material.speech[self.rng.integers(len(self.material.speech))]
            piece = clip[: length - at] * db(self.rng.uniform(-30, 0))
            out[at : at + len(piece)] = piece
            at += len(piece) + round(self.rng.uniform(0.1, 1.0) * SAMPLE_RATE)
        return out

    def white_noise(self, length: int) -> np.ndarray:
        return self.white(length, self.rng.uniform(-70, -10))

    def pink_noise(self, length: int) -> np.ndarray:
        return self.pink(length, self.rng.uniform(-70, -10))

    def speech(self, length: int) -> np.ndarray:
        return self.talk(length) + self.white(length, self.rng.uniform(-70, -40))

    def keywords(self, length: int) -> np.ndarray:
        """The demo recording (its own length) at a random level over pink noise."""
        demo = self.material.demo
        noise = self.pink(len(demo), self.rng.uniform(-70, -35))
        return demo * db(self.rng.uniform(-12, 6)) + noise

    def silence(self, length: int) -> np.ndarray:
        """Digital silence, or noise so faint that its samples are float32 denormals."""
        if self.rng.random() < 0.5:
            return np.zeros(length, np.float32)
        return self.white(length, -800)  # ~1e-40: below float32's smallest normal number

    def clipping(self, length: int) -> np.ndarray:
        """Speech or noise driven far into full scale, or a full-scale square wave."""
        choice = self.rng.integers(3)
        if choice == 0:
            return self.talk(length) * db(self.rng.uniform(20, 40))
        if choice == 1:
            return self.pink(length, self.rng.uniform(0, 20))
        period = SAMPLE_RATE / self.rng.uniform(50, 4000)
        return np.where((np.arange(length) / period) % 1.0 < 0.5, 1.0, -1.0)

    def dc_offset(self, length: int) -> np.ndarray:
        offset = self.rng.choice([-1, 1]) * self.rng.uniform(0.05, 0.95)
        sound = self.talk(length) if self.rng.random() < 0.5 else self.white_noise(length)
        return sound + offset

    def level_jumps(self, length: int) -> np.ndarray:
        """Noise or speech whose level jumps between -90 and 0 dB every 50 ms to 2 s."""
        sound = self.talk(length) if self.rng.random() < 0.5 else self.white(length, -10)
        gains = np.empty(length)
        at = 0
        while at < length:
            span = round(self.rng.uniform(0.05, 2.0) * SAMPLE_RATE)
            gains[at : at + span] = db(self.rng.uniform(-90, 10))
            at += span
        return sound * gains


def write_audio(read_end: int, write_end: int, mix, material: Material, seed: int, total: int):
    """The child process: the soak's audio as raw float32 into the pipe, then the seconds of
    each kind of audio it made to `mix` (a multiprocessing connection)."""
    os.close(read_end)
    seconds = Counter()
    try:
        with open(write_end, "wb") as pipe:
            for kind, samples in SoakAudio(material, seed).segments(total):
                pipe.write(samples.data)
                seconds[kind] += len(samples) / SAMPLE_RATE
    except BrokenPipeError:  # the reader stopped early: it reports why
        return
    mix.send(dict(seconds))


@contextmanager
def audio_pipe(material: Material, seed: int, total: int):
    """(a file reading the soak's audio, made by a child process while it is read; a function
    that returns the seconds of each kind of audio, once the file is read to its end)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # fewer wake-ups of either side
    context = multiprocessing.get_context("fork")  # the child inherits the pipe's descriptor
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=write_audio,
        args=(read_end, write_end, sender, material, seed, total),
        daemon=True,
    )
    child.start()
    os.close(write_end)
    try:
        with open(read_end, "rb", buffering=PIPE_BYTES) as pipe:
            yield pipe, receiver.recv
    finally:
        child.join()


# ---- one run -----------------------------------------------------------------------------------


class ScoreDigest:
    """SHA-256 of the scores (float32 bytes) frame by frame, taken at every `every` frames: two
    runs agree on a stretch when their digests at its end agree, whatever their block sizes."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.hash = hashlib.sha256()
        self.frames = 0
        self.marks: list[str] = []

    def update(self, scores: np.ndarray) -> None:
        while len(scores):
            take = min(len(scores), self.every - self.frames % self.every)
            self.hash.update(scores[:take].tobytes())
            self.frames += take
            scores = scores[take:]
            if self.frames % self.every == 0:
                self.marks.append(self.hash.copy().hexdigest())


class StateNorms:
    """L2 norms of the states the model carries, dequantized, read through the public
    `StreamingModel.states` (copies) and the interpreter's quantization of each."""

    def __init__(self, spotter: KeywordSpotter) -> None:
        model = spotter.stream.model
        details = model.interpreter.get_signature_runner().get_input_details()
        self.model = model
        self.names = [spec.layer for spec in model.metadata.states]
        self.scales = []
        for spec in model.metadata.states:
            quantization = details[spec.input]["quantization_parameters"]
            scales, points = quantization["scales"], quantization["zero_points"]
            self.scales.append((float(scales[0]), int(points[0])) if len(scales) else (1.0, 0))

    def __call__(self) -> list[float]:
        return [
            float(np.linalg.norm((state.astype(np.float32) - zero) * scale))
            for state, (scale, zero) in zip(self.model.states, self.scales, strict=True)
        ]


@dataclass
class Timeline:
    """One row per minute of audio, in arrays made at start (the record must not grow the
    memory it measures)."""

    minutes: int
    states: int
    rss_kb: np.ndarray = field(init=False)
    anon_kb: np.ndarray = field(init=False)
    norm_mean: np.ndarray = field(init=False)
    norm_max: np.ndarray = field(init=False)
    top_score: np.ndarray = field(init=False)
    detections: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.rss_kb = np.zeros(self.minutes)
        self.anon_kb = np.zeros(self.minutes)
        self.norm_mean = np.zeros((self.minutes, self.states))
        self.norm_max = np.zeros((self.minutes, self.states))
        self.top_score = np.zeros(self.minutes)
        self.detections = np.zeros(self.minutes, int)


def resident_kb() -> tuple[int, int]:
    """(VmRSS, RssAnon) of this process in kB. The check is on RssAnon, the memory the
    process allocated: VmRSS adds the pages of mapped files (the libraries' code, the model),
    which the kernel evicts and reads back as it likes (seen on a busy machine: VmRSS fell by
    20 MB within minutes while the soak's RssAnon stayed flat)."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    try:
        return int(fields["VmRSS"].split()[0]), int(fields["RssAnon"].split()[0])
    except KeyError:
        raise SoakError("/proc/self/status has no VmRSS/RssAnon: the soak needs Linux") from None


@dataclass
class Run:
    """What one pass over the audio heard; `detections` are "keyword<TAB>time<TAB>score"."""

    block: int
    features: FeatureConfig
    samples: int
    seconds: float
    detections: list[str]
    digest: ScoreDigest
    bad_scores: int
    bad_states: int
    score_range: tuple[float, float]
    sum_error: float
    timeline: Timeline
    seconds_by_kind: dict[str, float]


def listen(model: Path, block: int, material: Material, seed: int, total: int) -> Run:
    """Streams the soak's audio through a fresh KeywordSpotter in blocks of `block` samples."""
    spotter = KeywordSpotter(model)
    keyword = np.array([label in spotter.keywords for label in spotter.labels])
    norms = StateNorms(spotter)
    timeline = Timeline(math.ceil(total / (60 * SAMPLE_RATE)), len(norms.names))
    digest = ScoreDigest(FRAMES_PER_HOUR)
    buffer = np.empty(block, np.float32)
    view = memoryview(buffer).cast("B")
    lowest, highest, sum_error = np.inf, -np.inf, 0.0
    bad_scores = bad_states = 0
    minute, heard, next_minute = 0, 0, 60 * SAMPLE_RATE
    norm_sum, norm_max, norm_count = np.zeros(len(norms.names)), np.zeros(len(norms.names)), 0
    top, found = 0.0, 0
    # Detections go to a file as they come, not into a list that grows for a day.
    with tempfile.TemporaryFile("w+") as events, audio_pipe(material, seed, total) as (pipe, mix):
        start = time.perf_counter()
        while got := pipe.readinto(view):
            result = spotter.process(buffer[: got // 4])
            heard += got // 4
            scores = result.scores
            if len(scores):
                digest.update(scores)
                finite = np.isfinite(scores)
                bad_scores += scores.size - int(np.count_nonzero(finite))
                lowest = min(lowest, float(scores.min()))
                highest = max(highest, float(scores.max()))
                sum_error = max(sum_error, float(np.abs(scores.sum(axis=1) - 1).max()))
                top = max(top, float(scores[:, keyword].max()))
            state = norms()
            bad_states += sum(not math.isfinite(n) for n in state)
            norm_sum += state
            np.maximum(norm_max, state, out=norm_max)
            norm_count += 1
            for detection in result.detections:
                events.write(
                    f"{detection.keyword}\t{float(detection.time)!r}\t{detection.score!r}\n"
                )
            found += len(result.detections)
            if heard >= next_minute or got < len(view):
                timeline.rss_kb[minute], timeline.anon_kb[minute] = resident_kb()
                timeline.norm_mean[minute] = norm_sum / max(norm_count, 1)
                timeline.norm_max[minute] = norm_max
                timeline.top_score[minute] = top
                timeline.detections[minute] = found
                minute += 1
                next_minute += 60 * SAMPLE_RATE
                norm_sum[:], norm_max[:], norm_count, top, found = 0.0, 0.0, 0, 0.0, 0
        seconds = time.perf_counter() - start
        kinds = mix() if heard == total else {}
        events.seek(0)
        detections = events.read().splitlines()
    if heard != total:
        raise SoakError(f"the audio generator stopped after {heard} of {total} samples")
    return Run(
        block,
        spotter.metadata.features,
        total,
        seconds,
        detections,
        digest,
        bad_scores,
        bad_states,
        (lowest, highest),
        sum_error,
        timeline,
        kinds,
    )


# ---- the checks --------------------------------------------------------------------------------


def memory_check(run: Run, warmup_minutes: int) -> dict:
    """Anonymous resident memory after the warm-up: its highest minus its lowest value."""
    after = run.timeline.anon_kb[warmup_minutes:]
    rss = run.timeline.rss_kb[warmup_minutes:]
    spread = float(after.max() - after.min())
    return {
        "pass": spread <= MEMORY_LIMIT_KB,
        "measure": "RssAnon of /proc/self/status, once per minute of audio",
        "warmup_minutes_of_audio": warmup_minutes,
        "anon_mb_after_warmup": round(float(after[0]) / 1024, 3),
        "anon_mb_at_end": round(float(after[-1]) / 1024, 3),
        "growth_kb": float(after[-1] - after[0]),
        "spread_kb": spread,
        "limit_kb": MEMORY_LIMIT_KB,
        "vmrss_mb_min_max_after_warmup": [round(rss.min() / 1024, 2), round(rss.max() / 1024, 2)],
    }


def finite_check(run: Run) -> dict:
    lowest, highest = run.score_range
    return {
        "pass": run.bad_scores == 0 and run.bad_states == 0 and lowest >= 0 and highest <= 1,
        "nan_or_inf_scores": run.bad_scores,
        "nan_or_inf_states": run.bad_states,
        "score_min": lowest,
        "score_max": highest,
        "max_abs_score_sum_minus_1": round(run.sum_error, 4),
    }


def chunking_check(reference: Run, other: Run) -> dict:
    """`other` (the same audio, or its first hours) against the reference run."""
    frames = num_frames(other.samples, other.features)
    expected = [line for line in reference.detections if frame_of(line, other.features) < frames]
    hours = len(other.digest.marks)
    same_scores = other.digest.marks == reference.digest.marks[:hours]
    if other.samples == reference.samples:
        same_scores &= other.digest.hash.digest() == reference.digest.hash.digest()
    return {
        "block_samples": other.block,
        "hours": round(other.samples / SAMPLE_RATE / 3600, 3),
        "detections": len(other.detections),
        "identical_detections": other.detections == expected,
        "identical_scores": same_scores,
        "pass": other.detections == expected and same_scores,
        "seconds": round(other.seconds, 1),
    }


def frame_of(line: str, features: FeatureConfig) -> int:
    """The index of the frame a detection line fired at (its time is that frame's end)."""
    hop = features.hop_samples / features.sample_rate
    end = features.window_samples / features.sample_rate
    return round((float(line.split("\t")[1]) - end) / hop)


# ---- the report --------------------------------------------------------------------------------


def plot(run: Run, names: list[str], warmup_minutes: int, title: str, path: Path) -> None:
    """Resident memory (both measures on the same scale), state norms, and the top keyword
    score with the detections, over hours of audio."""
    plots = require("gru_edge.plots", "plots", "the soak's plot")
    line = run.timeline
    hours = (np.arange(line.minutes) + 1) / 60
    limit = MEMORY_LIMIT_KB / 1024
    figure, (memory, norms, scores) = plots.plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    memory.plot(hours, line.anon_kb / 1024, color="tab:blue", label="RssAnon (checked)")
    memory.axvspan(0, warmup_minutes / 60, color="0.9", label="warm-up")
    floor = line.anon_kb[warmup_minutes:].min() / 1024
    memory.axhspan(floor, floor + limit, color="tab:green", alpha=0.15, label="allowed after it")
    memory.set_ylabel("RssAnon (MB)")
    everything = memory.twinx()
    everything.plot(hours, line.rss_kb / 1024, color="0.6", linewidth=0.8, label="VmRSS")
    everything.set_ylabel("VmRSS, with mapped files (MB)", color="0.5")
    rss_floor = line.rss_kb[warmup_minutes:].min() / 1024
    for axis, low in ((memory, floor), (everything, rss_floor)):  # the same 5 MB span on both
        axis.set_ylim(low - 2 * limit, low + 3 * limit)
        axis.ticklabel_format(axis="y", useOffset=False)
    memory.legend(loc="lower left", fontsize="small", ncol=3)
    everything.legend(loc="lower right", fontsize="small")
    for i, name in enumerate(names):
        norms.plot(hours, line.norm_mean[:, i], linewidth=0.6, label=f"{name}: mean per minute")
        norms.plot(hours, line.norm_max[:, i], ":", linewidth=0.6, label=f"{name}: max")
    norms.set_ylabel("state L2 norm")
    norms.legend(loc="upper right", fontsize="small", ncol=2)
    scores.plot(hours, line.top_score, color="0.5", linewidth=0.5, label="top keyword score")
    scores.set_ylabel("top keyword score per minute")
    scores.set_xlabel("hours of audio")
    per_hour = line.detections[: line.minutes // 60 * 60].reshape(-1, 60).sum(axis=1)
    counts = scores.twinx()
    counts.step(np.arange(1, len(per_hour) + 1), per_hour, color="tab:red", label="detections")
    counts.set_ylabel("detections per hour", color="tab:red")
    counts.set_ylim(0, max(1, per_hour.max(initial=0)) * 1.3)
    counts.legend(loc="lower right", fontsize="small")
    memory.set_title(title)
    plots.save_figure(figure, path)


def parse_compare(spec: str) -> tuple[int, float | None]:
    """ "BLOCK" or "BLOCK:HOURS" (a block size in samples, over the first HOURS of audio)."""
    block, _, hours = spec.partition(":")
    try:
        parsed = int(block), float(hours) if hours else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r} is not BLOCK or BLOCK:HOURS") from None
    if parsed[0] < 1 or (parsed[1] is not None and parsed[1] <= 0):
        raise argparse.ArgumentTypeError(f"{spec!r}: the block and the hours must be positive")
    return parsed


def soak(args: argparse.Namespace) -> bool:
    model = args.model or default_model()
    total = round(args.hours * 3600 * SAMPLE_RATE)
    if total < (args.warmup_minutes + 1) * 60 * SAMPLE_RATE:
        raise SoakError(f"--hours {args.hours} leaves nothing after the warm-up: give more")
    started = time.perf_counter()
    material = make_material(KeywordSpotter(model).keywords, args.seed)
    print(f"soak: {args.hours} h of audio through {model.name} in {BLOCK}-sample blocks ...")
    main = listen(model, BLOCK, material, args.seed, total)
    names = StateNorms(KeywordSpotter(model)).names
    comparisons = []
    for block, hours in args.compare:
        samples = min(total, round(hours * 3600 * SAMPLE_RATE)) if hours else total
        print(f"soak: the same {samples / SAMPLE_RATE / 3600:g} h in {block}-sample blocks ...")
        comparisons.append(chunking_check(main, listen(model, block, material, args.seed, samples)))
    checks = {
        "memory_flat": memory_check(main, args.warmup_minutes),
        "finite_scores_and_states": finite_check(main),
        "same_detections_in_other_block_sizes": {
            "pass": all(c["pass"] for c in comparisons),
            "runs": comparisons,
        },
    }
    keywords = Counter(line.split("\t")[0] for line in main.detections)
    line = main.timeline
    report = {
        "benchmark": "soak: hours of hostile audio through one KeywordSpotter",
        **environment(),
        "model": model.name,
        "seed": args.seed,
        "hours_streamed": round(total / SAMPLE_RATE / 3600, 3),
        "block_samples": BLOCK,
        "seconds": round(main.seconds, 1),
        "times_real_time": round(total / SAMPLE_RATE / main.seconds),
        "total_seconds": round(time.perf_counter() - started, 1),
        "audio_hours_by_kind": {
            kind: round(seconds / 3600, 2) for kind, seconds in sorted(main.seconds_by_kind.items())
        },
        "passed": all(check["pass"] for check in checks.values()),
        "checks": checks,
        "detections": {
            "count": len(main.detections),
            "by_keyword": dict(sorted(keywords.items())),
            "sha256": hashlib.sha256("\n".join(main.detections).encode()).hexdigest(),
            "first": main.detections[:20],
        },
        "timeline_per_minute_of_audio": {
            "rss_anon_kb": line.anon_kb.astype(int).tolist(),
            "vmrss_kb": line.rss_kb.astype(int).tolist(),
            "state_norm_mean": {
                name: np.round(line.norm_mean[:, i], 4).tolist() for i, name in enumerate(names)
            },
            "state_norm_max": {
                name: np.round(line.norm_max[:, i], 4).tolist() for i, name in enumerate(names)
            },
            "top_keyword_score": np.round(line.top_score, 4).tolist(),
            "detections": line.detections.tolist(),
        },
    }
    write_report(args.out, report)
    png = args.out.with_suffix(".png")
    title = f"soak: {report['hours_streamed']:g} h of audio, {model.name}"
    plot(main, names, args.warmup_minutes, title, png)
    print_table(report)
    print(f"wrote {args.out} and {png}")
    return report["passed"]


def print_table(report: dict) -> None:
    checks = report["checks"]
    memory, finite = checks["memory_flat"], checks["finite_scores_and_states"]
    verdict = lambda check: "pass" if check["pass"] else "FAIL"  # noqa: E731
    print(
        f"{report['hours_streamed']:g} h of audio in {report['seconds']:.0f} s "
        f"({report['times_real_time']:,}x real time), {report['detections']['count']} detections"
    )
    print("| check | result | figures |")
    print("|---|---|---|")
    print(
        f"| memory flat within {memory['limit_kb']} kB after {memory['warmup_minutes_of_audio']}"
        f" min | {verdict(memory)} | RssAnon {memory['anon_mb_after_warmup']} -> "
        f"{memory['anon_mb_at_end']} MB, growth {memory['growth_kb']:.0f} kB, spread "
        f"{memory['spread_kb']:.0f} kB |"
    )
    print(
        f"| no NaN/inf, scores in [0, 1] | {verdict(finite)} | {finite['nan_or_inf_scores']} bad "
        f"scores, {finite['nan_or_inf_states']} bad states, scores in "
        f"[{finite['score_min']:.3f}, {finite['score_max']:.3f}] |"
    )
    for run in checks["same_detections_in_other_block_sizes"]["runs"]:
        print(
            f"| same detections and scores in {run['block_samples']}-sample blocks | "
            f"{verdict(run)} | {run['hours']:g} h, {run['detections']} detections, "
            f"{run['seconds']:.0f} s |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--model", type=Path, help="default: the model shipped with gru_edge")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/soak.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-minutes", type=int, default=10)
    parser.add_argument(
        "--compare",
        type=parse_compare,
        nargs="*",
        default=[(16000, None), (592, 6.0), (160, 2.0)],
        metavar="BLOCK[:HOURS]",
        help="other block sizes (samples) to stream the same audio in, over its first HOURS "
        "(default: all of it); default 16000 592:6 160:2 (1 s for all of it, an odd 37 ms for "
        "6 h and 10 ms for 2 h: small blocks cost more, and the whole run stays near 15 min)",
    )
    args = parser.parse_args()
    passed = []
    status = exit_status(lambda: passed.append(soak(args)), "soak")
    return status or (0 if passed[0] else 1)


if __name__ == "__main__":
    sys.exit(main())

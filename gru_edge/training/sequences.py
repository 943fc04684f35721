"""Long training sequences for the stream recipe: clips inside negative audio, with a target
for every frame.

A sequence of a few seconds is a background (a window of negative speech, music or noise from
the training part of the negative corpora, or the dataset's background noise, at a random
level) with up to `max_clips` training clips (keywords, unknown words, silence) placed at
random times and levels over it. Every frame gets a target, one of:

- NEGATIVE: no keyword may fire here (any non-keyword class will do);
- CLASS: this class, by cross-entropy: the last frame of every clip gets its clip's label, as
  in the clip recipe, so that clip accuracy is still taught;
- WINDOW: a keyword's max-pooling window around the end of its word: only the window's best
  frame must fire (Sun et al. 2016), whichever it is;
- IGNORE: no loss: a word still being spoken, the moments after a clip, and the keyword spans
  marked inside the negative audio (a real "on" inside read speech is not a negative).

The GRU runs through the whole sequence from a zero state, so it learns to decide from
whatever state earlier audio left and to return to rest. Batches are a pure function of
(seed, batch number), so a resumed run sees what an uninterrupted one would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gru_edge.audio import int16_to_float
from gru_edge.config import AugmentConfig, FeatureConfig, SequenceConfig
from gru_edge.datasets import Clips, word_end
from gru_edge.features import num_frames
from gru_edge.modelfile import is_keyword
from gru_edge.negatives import NegativeAudio, Recording

IGNORE, NEGATIVE, CLASS, WINDOW = 0, 1, 2, 3


@dataclass
class SequenceSource:
    """What sequences are made of: the training clips (with their words' ends), the negative
    recordings of the training split, the dataset's background noise, and mined windows."""

    clips: Clips
    labels: tuple[str, ...]
    word_ends: np.ndarray  # samples from each clip's start to the end of its word
    negatives: NegativeAudio | None
    recordings: list[Recording]
    noise: np.ndarray  # float32, the training part of every noise recording, joined
    hard: np.ndarray  # int16 (windows, clip samples): mined hard negatives, maybe none

    @classmethod
    def build(
        cls,
        clips: Clips,
        labels: tuple[str, ...],
        noise: list[np.ndarray],
        negatives: NegativeAudio | None,
        sample_rate: int,
        hard: np.ndarray | None = None,
    ) -> SequenceSource:
        ends = np.array(
            [round(word_end(int16_to_float(a), sample_rate) * sample_rate) for a in clips.audio]
        )
        recordings = negatives.split("train") if negatives else []
        joined = np.concatenate(noise).astype(np.float32) if noise else np.zeros(0, np.float32)
        if hard is None:
            hard = np.zeros((0, clips.audio.shape[1]), np.int16)
        return cls(clips, labels, ends, negatives, recordings, joined, hard)


class SequenceMaker:
    """Makes batch number `i` of (audio (batch, samples), targets (batch, frames, 3)): each
    frame's target is (kind, label, window id)."""

    def __init__(
        self,
        source: SequenceSource,
        config: SequenceConfig,
        augment: AugmentConfig,
        features: FeatureConfig,
        batch_size: int,
        seed: int,
    ) -> None:
        self.source, self.config, self.augment = source, config, augment
        self.features, self.batch_size, self.seed = features, batch_size, seed
        self.rate = features.sample_rate
        self.length = round(config.seconds * self.rate)
        self.frames = num_frames(self.length, features)
        self._keyword = np.array([is_keyword(label) for label in source.labels])
        lengths = np.array([r.length for r in source.recordings], np.float64)
        self._chances = lengths / lengths.sum() if len(lengths) else lengths  # by length

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        audio = np.empty((self.batch_size, self.length), np.float32)
        targets = np.empty((self.batch_size, self.frames, 3), np.int32)
        for row in range(self.batch_size):
            rng = np.random.default_rng([self.seed, index, row])
            audio[row], targets[row] = self.sequence(rng)
        return audio, targets

    def sequence(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One sequence and its frame targets."""
        background, spans = self._background(rng)
        return self.compose(background, spans, self._placements(rng), rng)

    def compose(
        self,
        background: np.ndarray,
        spans: list[tuple[int, int]],
        placed: list[tuple[int, int]],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The clips `placed` ((clip index, start sample), apart) over `background` (whose
        keyword spans are `spans`), at random levels; and the frame targets."""
        kinds = np.full(self.frames, NEGATIVE, np.int32)
        labels = np.zeros(self.frames, np.int32)
        windows = np.zeros(self.frames, np.int32)
        foreground = np.zeros(self.length, np.float32)
        inside = np.zeros(self.length, bool)  # the samples the clips cover
        for number, (clip_index, offset) in enumerate(placed, start=1):
            clip = self._augmented_clip(clip_index, rng)
            end = min(offset + len(clip), self.length)
            foreground[offset:end] += clip[: end - offset]
            inside[offset:end] = True
            self._label_clip(kinds, labels, windows, clip_index, offset, end, number)
        # Last: a keyword really spoken in the background is never a negative, whatever lies
        # over it.
        for start, end in spans:
            self._mark(kinds, start, end + self._samples(self.config.span_ignore_ms), IGNORE)
        speech_rms = _rms(foreground[inside]) if inside.any() else 0.0  # over the clips only
        if speech_rms > 0:
            snr = rng.uniform(*self.config.background_snr_db)
            level = speech_rms * 10 ** (-snr / 20)
        else:
            level = 10 ** (rng.uniform(*self.config.background_dbfs) / 20)
        background_rms = _rms(background)
        if background_rms > 0:
            background *= level / background_rms
        audio = np.clip(foreground + background, -1.0, 1.0)
        return audio, np.stack([kinds, labels, windows], axis=1)

    def _samples(self, ms: float) -> int:
        return round(ms * self.rate / 1000)

    def _frame_range(self, start: int, end: int) -> slice:
        """The frames whose last sample falls in samples [start, end)."""
        window, hop = self.features.window_samples, self.features.hop_samples
        first = max(0, -(-(start - window + 1) // hop))
        last = min(self.frames, -(-(end - window + 1) // hop))
        return slice(first, max(first, last))

    def _mark(self, kinds: np.ndarray, start: int, end: int, kind: int) -> None:
        kinds[self._frame_range(start, end)] = kind

    def _background(self, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Negative audio (or the dataset's noise), and the keyword spans inside it."""
        source = self.source
        if source.recordings and rng.random() < self.config.negative_audio_probability:
            chosen = source.recordings[rng.choice(len(source.recordings), p=self._chances)]
            if chosen.length >= self.length:
                offset = int(rng.integers(chosen.length - self.length + 1))
                audio = source.negatives.window(chosen, offset, self.length)
                shifts = [-offset]
            else:  # a short recording repeats to fill the sequence
                audio = np.resize(source.negatives.window(chosen, 0, chosen.length), self.length)
                shifts = list(range(0, self.length, chosen.length))
            spans = [(s.start + shift, s.end + shift) for s in chosen.spans for shift in shifts]
            return audio.astype(np.float32), [(a, b) for a, b in spans if b > 0 and a < self.length]
        if len(source.noise) >= self.length:
            start = int(rng.integers(len(source.noise) - self.length + 1))
            return source.noise[start : start + self.length].copy(), []
        return rng.normal(0, 1, self.length).astype(np.float32), []

    def _placements(self, rng: np.random.Generator) -> list[tuple[int, int]]:
        """(clip index, start sample) of the clips of one sequence, apart and inside it; an
        index of -1-k stands for mined window k."""
        clip_length = self.source.clips.audio.shape[1]
        fit = self.length // clip_length  # no more clips than the sequence holds
        count = min(int(rng.integers(0, self.config.max_clips + 1)), fit)
        if count == 0:
            return []
        room = self.length - count * clip_length
        gaps = np.sort(rng.integers(0, room + 1, count))
        indices = rng.integers(len(self.source.clips), size=count)
        hard = len(self.source.hard)
        if hard:
            mined = rng.random(count) < self.config.hard_negative_probability
            indices = np.where(mined, -1 - rng.integers(hard, size=count), indices)
        return [
            (int(i), int(gap + n * clip_length))
            for n, (i, gap) in enumerate(zip(indices, gaps, strict=True))
        ]

    def _augmented_clip(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The clip at a random gain and speed (the same length); noise comes from the
        background and SpecAugment from the model."""
        audio = self.source.clips.audio[index] if index >= 0 else self.source.hard[-1 - index]
        clip = int16_to_float(audio)
        low, high = self.augment.speed
        factor = rng.uniform(low, high)
        if factor != 1.0:  # linear interpolation, as the clip recipe's speed perturbation
            positions = (np.arange(len(clip)) - len(clip) / 2) * factor + len(clip) / 2
            clip = np.interp(positions, np.arange(len(clip)), clip, left=0.0, right=0.0)
        gain = 10 ** (rng.uniform(*self.augment.gain_db) / 20)
        return (clip * gain).astype(np.float32)

    def _label_clip(
        self,
        kinds: np.ndarray,
        labels: np.ndarray,
        windows: np.ndarray,
        index: int,
        offset: int,
        end: int,
        number: int,
    ) -> None:
        if index < 0:  # a mined window: nothing may fire anywhere in it
            self._mark(kinds, offset, end, NEGATIVE)
            return
        label = int(self.source.clips.labels[index])
        self._mark(kinds, end, end + self._samples(self.config.after_clip_ignore_ms), IGNORE)
        if self._keyword[label]:
            word = offset + int(self.source.word_ends[index])
            before = word - self._samples(self.config.window_before_ms)
            after = word + self._samples(self.config.window_after_ms)
            self._mark(kinds, offset, end, IGNORE)  # the word is being spoken
            window = self._frame_range(before, after)
            kinds[window], labels[window], windows[window] = WINDOW, label, number
        else:  # silence and unknown words: negative throughout
            self._mark(kinds, offset, end, NEGATIVE)
        last = (end - self.features.window_samples) // self.features.hop_samples
        if 0 <= last < self.frames:  # the clip's last whole frame: its label, as for a clip
            kinds[last], labels[last], windows[last] = CLASS, label, 0


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))

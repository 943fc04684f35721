"""The stream recipe's training sequences and their frame targets, and its loss."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gru_edge.config import AugmentConfig, FeatureConfig, SequenceConfig
from gru_edge.datasets import Clips
from gru_edge.negatives import KeywordSpan, NegativeAudio, Recording
from gru_edge.training.losses import StreamLoss
from gru_edge.training.sequences import (
    CLASS,
    IGNORE,
    NEGATIVE,
    WINDOW,
    SequenceMaker,
    SequenceSource,
)

LABELS = ("_silence_", "_unknown_", "yes")
FEATURES = FeatureConfig()
STILL = AugmentConfig(speed=(1.0, 1.0), gain_db=(0.0, 0.0))


def _clips() -> Clips:
    """A "yes" whose word ends at 0.6 s, an unknown word, a silence clip."""
    audio = np.zeros((3, 16000), np.int16)
    audio[0, 3200:9600] = 8000
    audio[1, 4000:12000] = -6000
    audio[2] = 30
    return Clips(audio, np.array([2, 1, 0], np.int32), [])


class _Negatives(NegativeAudio):
    """One recording of 10 s of noise with a keyword spoken at 4-4.5 s."""

    def __init__(self) -> None:
        recording = Recording(
            None, "talk", "a", "train", 0, 160000, (KeywordSpan("yes", 64000, 72000),)
        )
        super().__init__([recording], None, 16000)
        self.audio = (np.random.default_rng(0).normal(0, 3000, 160000)).astype(np.int16)

    def samples(self, recording, offset=0, length=None):
        part = self.audio[recording.start : recording.end]
        return part[offset:] if length is None else part[offset : offset + length]


def _maker(config: SequenceConfig, negatives=None, seed: int = 0) -> SequenceMaker:
    source = SequenceSource.build(
        _clips(), LABELS, [np.full(64000, 0.01, np.float32)], negatives, 16000
    )
    return SequenceMaker(source, config, STILL, FEATURES, batch_size=4, seed=seed)


def test_batches_are_a_function_of_their_number():
    maker = _maker(SequenceConfig(seconds=3.0))
    audio, targets = maker.batch(7)
    assert audio.shape == (4, 48000) and targets.shape == (4, 298, 3)
    again, same = maker.batch(7)
    np.testing.assert_array_equal(again, audio)
    np.testing.assert_array_equal(same, targets)
    assert not np.array_equal(maker.batch(8)[0], audio)
    assert np.abs(audio).max() <= 1.0


def _compose(maker: SequenceMaker, placed, seed: int = 0):
    background = np.full(maker.length, 0.01, np.float32)
    return maker.compose(background, [], placed, np.random.default_rng(seed))


def _frame_ends(count: int) -> np.ndarray:
    return np.arange(count) * 160 + 400  # the sample after each frame's last


def test_a_keyword_gets_its_window_at_the_end_of_its_word_and_its_label_at_its_end():
    config = SequenceConfig(seconds=3.0, max_clips=2, window_before_ms=100, window_after_ms=200)
    maker = _maker(config)
    offset = 12000
    _, targets = _compose(maker, [(0, offset)])
    kinds, labels = targets[:, 0], targets[:, 1]
    ends = _frame_ends(len(kinds))
    window = np.nonzero(kinds == WINDOW)[0]
    # the window's frames are exactly those ending in [word end - 100 ms, word end + 200 ms)
    expected = np.nonzero((ends > offset + 9600 - 1600) & (ends <= offset + 9600 + 3200))[0]
    last = (offset + 16000 - 400) // 160
    np.testing.assert_array_equal(window, expected[expected != last])
    assert set(labels[window]) == {2} and set(targets[window, 2]) == {1}
    last = (offset + 16000 - 400) // 160
    assert kinds[last] == CLASS and labels[last] == 2
    speaking = (ends > offset) & (ends < offset + 9600 - 1600)
    assert set(kinds[speaking]) == {IGNORE}  # the word is not over yet
    assert set(kinds[ends <= offset]) == {NEGATIVE}
    after = (ends > offset + 16000 + 3200) & (ends <= 48000)  # 200 ms after the clip: rest
    assert set(kinds[after]) == {NEGATIVE}


def test_two_keywords_get_two_windows():
    maker = _maker(SequenceConfig(seconds=3.0, max_clips=2))
    _, targets = _compose(maker, [(0, 0), (0, 24000)])
    assert set(targets[targets[:, 0] == WINDOW, 2]) == {1, 2}


def test_silence_and_unknown_clips_are_negative_with_their_label_at_the_end():
    maker = _maker(SequenceConfig(seconds=2.0))
    for index, label in ((1, "_unknown_"), (2, "_silence_")):
        _, targets = _compose(maker, [(index, 8000)])
        last = (8000 + 16000 - 400) // 160
        assert targets[last, 0] == CLASS and targets[last, 1] == LABELS.index(label)
        assert WINDOW not in targets[:, 0] and set(targets[:last, 0]) == {NEGATIVE}


def test_placements_keep_clips_apart_and_inside():
    maker = _maker(SequenceConfig(seconds=3.0, max_clips=2))
    for seed in range(50):
        placed = maker._placements(np.random.default_rng(seed))
        starts = [start for _, start in placed]
        assert len(placed) <= 2 and starts == sorted(starts)
        assert all(b - a >= 16000 for a, b in zip(starts, starts[1:], strict=False))
        assert all(0 <= s <= 48000 - 16000 for s in starts)


def test_keyword_spans_inside_the_negative_audio_are_ignored():
    config = SequenceConfig(seconds=10.0, max_clips=0, negative_audio_probability=1.0)
    maker = _maker(config, _Negatives())
    _, targets = maker.sequence(np.random.default_rng(0))
    ends = _frame_ends(len(targets))
    marked = (ends > 64000) & (ends <= 72000 + 8000)  # the span and half a second after
    assert set(targets[marked, 0]) == {IGNORE}
    assert set(targets[~marked, 0]) == {NEGATIVE}


def test_the_background_is_set_below_the_clips_by_the_snr():
    """The SNR is the clip's level over the background's, whatever else the sequence holds."""
    for seconds in (2.0, 3.0):
        maker = _maker(SequenceConfig(seconds=seconds, background_snr_db=(20.0, 20.0)))
        audio, _ = _compose(maker, [(0, 8000)])
        clip = _clips().audio[0] / 32768
        background = audio.astype(np.float64).copy()
        background[8000:24000] -= clip
        ratio = np.sqrt(np.mean(clip**2) / np.mean(background**2))
        assert 20 * np.log10(ratio) == pytest.approx(20.0, abs=0.1)


def test_a_real_keyword_under_an_unknown_word_stays_ignored():
    config = SequenceConfig(seconds=3.0, span_ignore_ms=0.0)
    maker = _maker(config)
    background = np.full(maker.length, 0.01, np.float32)
    _, targets = maker.compose(background, [(16000, 20000)], [(1, 8000)], np.random.default_rng(0))
    ends = _frame_ends(len(targets))
    spoken = (ends > 16000) & (ends <= 20000)
    assert set(targets[spoken, 0]) == {IGNORE}  # not NEGATIVE, though the unknown clip lies over it
    last = (8000 + 16000 - 400) // 160
    assert targets[last, 0] == CLASS  # the clip's end is outside the span


def _loss(kinds, labels, windows, logits, **kwargs) -> float:
    targets = np.stack([kinds, labels, windows], axis=-1)[np.newaxis].astype(np.int32)
    loss = StreamLoss([0, 1], max_windows=2, label_smoothing=0.0, **kwargs)
    return float(loss(tf.constant(targets), tf.constant(np.asarray(logits, np.float32)[None])))


def test_the_loss_asks_one_frame_of_a_window_to_fire():
    kinds = np.array([WINDOW] * 4)
    labels, windows = np.full(4, 2), np.ones(4, int)
    quiet = np.zeros((4, 3))
    one_fires = quiet.copy()
    one_fires[2, 2] = 10.0  # p(yes) ~ 1 at one frame of the window
    assert _loss(kinds, labels, windows, one_fires) < 1e-3
    assert _loss(kinds, labels, windows, quiet) == pytest.approx(np.log(3), abs=1e-5)


def test_the_loss_counts_any_non_keyword_class_as_negative_and_ignores_ignore():
    kinds = np.array([NEGATIVE, NEGATIVE, IGNORE])
    zeros = np.zeros(3, int)
    silence = np.array([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]])  # silence, unknown, yes
    assert _loss(kinds, zeros, zeros, silence) < 1e-3  # the "yes" frame is ignored
    fires = silence.copy()
    fires[1] = [0, 0, 10.0]
    expected = np.log((2 + np.exp(10.0)) / 2) / 2  # -log P(silence or unknown), 2 frames
    assert _loss(kinds, zeros, zeros, fires) == pytest.approx(expected, rel=1e-4)
    assert _loss(kinds, zeros, zeros, fires, negative_weight=2.0) == pytest.approx(
        2 * expected, rel=1e-4
    )


def test_the_hardest_negative_frames_can_count_alone():
    kinds = np.full(10, NEGATIVE)
    zeros = np.zeros(10, int)
    logits = np.zeros((10, 3))
    logits[:, 0] = 10.0  # silence, sure of it ...
    logits[3] = [0.0, 0.0, 10.0]  # ... but for one frame that fires
    fired = np.log((2 + np.exp(10.0)) / 2)
    assert _loss(kinds, zeros, zeros, logits) == pytest.approx(fired / 10, rel=1e-3)
    hardest = _loss(kinds, zeros, zeros, logits, negative_top_fraction=0.1)
    assert hardest == pytest.approx(fired, rel=1e-3)  # one frame of ten: the one that fired


def test_the_loss_is_cross_entropy_on_class_frames_and_serializes():
    kinds = np.array([CLASS, IGNORE])
    labels = np.array([1, 0])
    logits = np.array([[0.0, np.log(4.0), 0.0], [0.0, 0.0, 0.0]])
    assert _loss(kinds, labels, np.zeros(2, int), logits) == pytest.approx(-np.log(4 / 6))
    loss = StreamLoss([0, 1], max_windows=2, negative_weight=0.5)
    again = StreamLoss.from_config(loss.get_config())
    assert (again.negative_classes, again.max_windows, again.negative_weight) == ([0, 1], 2, 0.5)

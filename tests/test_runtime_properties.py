"""Properties of the runtime under random input (hypothesis): the front end, the streaming
model (the committed tiny models) and the detector, each fed random audio, features or scores
in random chunkings. A stream cut into pieces of any size gives what it gives at once; valid
input gives finite features and scores that are probabilities; bad input raises only the
documented errors, and leaves the stream as it was. No TensorFlow here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gru_edge.config import DetectorConfig, FeatureConfig
from gru_edge.errors import AudioError
from gru_edge.features import FeatureExtractor, log_mel, mel_weight_matrix, periodic_hann
from gru_edge.runtime.detector import Detector, ScoreError
from gru_edge.runtime.stream import AudioStream, StreamingModel

FEATURES = FeatureConfig()
quick = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def in_pieces(feed, signal: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """`feed` called on consecutive pieces of `signal` whose sizes cycle through `sizes`."""
    out, start, i = [], 0, 0
    while start < len(signal):
        out.append(feed(signal[start : start + sizes[i % len(sizes)]]))
        start += sizes[i % len(sizes)]
        i += 1
    return out


# ---- the front end -------------------------------------------------------------------------


KINDS = ("noise", "silence", "square", "denormals", "clipped", "dc offset", "any")


@st.composite
def audio(draw, max_samples: int = 4000) -> np.ndarray:
    """Float32 samples in [-1, 1]: noise at any level, digital silence, full-scale square waves,
    float32 denormals, hard-clipped noise, a DC offset, or any values hypothesis picks."""
    kind = draw(st.sampled_from(KINDS))
    n = draw(st.integers(0, max_samples))
    if kind == "any":
        return draw(
            hnp.arrays(np.float32, n, elements=st.floats(-1, 1, width=32, allow_subnormal=True))
        )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    level = 10 ** (draw(st.floats(-120, 0)) / 20)
    if kind == "noise":
        samples = rng.normal(0, level, n)
    elif kind == "silence":
        samples = np.zeros(n)
    elif kind == "square":
        period = draw(st.integers(2, 400))
        samples = np.where(np.arange(n) % period < period // 2, 1.0, -1.0)
    elif kind == "denormals":
        samples = rng.normal(0, 1e-41, n)  # below float32's smallest normal number, 1.2e-38
    elif kind == "clipped":
        samples = rng.normal(0, 10, n)
    else:
        samples = rng.normal(draw(st.floats(-1, 1)), level, n)
    return np.clip(samples, -1, 1).astype(np.float32)


def loudest_feature(config: FeatureConfig) -> float:
    """The largest log-mel value audio in [-1, 1] can give: no frequency bin holds more power
    than (sum of the window)**2, so no mel bin more than that times its filter's weights."""
    peak_power = periodic_hann(config.window_samples).sum() ** 2
    widest = mel_weight_matrix(config).sum(axis=0).max()
    return float(np.log(peak_power * widest + config.log_floor))


FRAME_CEILING = float(np.float32(loudest_feature(FEATURES)))


piece_sizes = st.lists(st.integers(0, 2000), min_size=1, max_size=12).filter(any)


@quick
@given(signal=audio(), sizes=piece_sizes)
def test_the_front_end_gives_the_same_frames_for_any_chunking(signal, sizes):
    extractor = FeatureExtractor()
    pieces = [extractor.accept(np.zeros(0)), *in_pieces(extractor.accept, signal, sizes)]
    np.testing.assert_array_equal(np.concatenate(pieces), log_mel(signal))


@pytest.mark.reliability(
    area="runtime",
    fault="silence, full-scale square waves, denormals, any finite float32 audio",
    outcome="finite log-mel features, within the bounds a signal can reach",
)
@settings(max_examples=200, deadline=None)
@given(
    signal=st.one_of(
        audio(),
        hnp.arrays(
            np.float32,
            st.integers(0, 3000),
            elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
        ),
    )
)
def test_any_finite_audio_gives_finite_features(signal):
    frames = log_mel(signal)
    assert np.isfinite(frames).all()
    assert (frames >= np.log(FEATURES.log_floor) - 1e-5).all()
    if len(frames) and np.abs(signal).max() <= 1:
        assert frames.max() <= FRAME_CEILING + 1e-4


# ---- the streaming model -------------------------------------------------------------------


# The step of the scores: int8 models output multiples of 1/256 (their softmax's output
# quantization), each off the float value by at most half a step.
SCORE_STEP = {"float32": 0.0, "int8": 1 / 256}


@pytest.fixture(scope="module")
def models(committed_models) -> dict[str, StreamingModel]:
    """One model per quantization, `reset` by each example: loading one costs milliseconds."""
    return {q: StreamingModel(path) for q, path in committed_models.items()}


features = hnp.arrays(
    np.float32,
    st.tuples(st.integers(0, 40), st.just(FEATURES.num_mel_bins)),
    elements=st.floats(float(np.float32(np.log(FEATURES.log_floor))), FRAME_CEILING, width=32),
)


def assert_probabilities(scores: np.ndarray, quantization: str) -> None:
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    tolerance = 1e-5 + scores.shape[1] * SCORE_STEP[quantization] / 2
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=tolerance)


@pytest.mark.reliability(
    area="runtime",
    fault="random features in the front end's range, in random chunkings",
    outcome="finite scores in [0, 1] summing to 1, the same for any chunking",
)
@pytest.mark.parametrize("quantization", ["float32", "int8"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=features, sizes=st.lists(st.integers(0, 15), min_size=1, max_size=8).filter(any))
def test_the_model_scores_are_probabilities_whatever_the_chunking(
    models, quantization, frames, sizes
):
    model = models[quantization]
    model.reset()
    whole = model.process(frames)
    assert whole.shape == (len(frames) - len(frames) % model.chunk_frames, len(model.labels))
    assert_probabilities(whole, quantization)
    model.reset()
    pieces = in_pieces(model.process, frames, sizes)
    np.testing.assert_array_equal(np.concatenate([whole[:0], *pieces]), whole)


@pytest.mark.parametrize("quantization", ["float32", "int8"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal=audio(max_samples=3000), sizes=piece_sizes)
def test_audio_in_any_chunking_gives_the_same_probabilities(models, quantization, signal, sizes):
    stream = AudioStream(models[quantization])
    stream.reset()
    whole = stream.accept(signal)
    assert_probabilities(whole, quantization)
    stream.reset()
    pieces = in_pieces(stream.accept, signal, sizes)
    np.testing.assert_array_equal(np.concatenate([whole[:0], *pieces]), whole)


@pytest.mark.reliability(
    area="runtime",
    fault="a block holding NaN or inf samples amid good audio",
    outcome="AudioError for that block; the stream carries on as if it never came",
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    signal=audio(max_samples=3000),
    split=st.floats(0, 1),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    where=st.floats(0, 1),
    length=st.integers(1, 500),
)
def test_a_block_of_bad_samples_is_refused_and_changes_nothing(
    models, signal, split, bad, where, length
):
    stream = AudioStream(models["float32"])
    stream.reset()
    whole = stream.accept(signal)
    stream.reset()
    cut = round(split * len(signal))
    first = stream.accept(signal[:cut])
    block = np.zeros(length, np.float32)
    block[min(round(where * length), length - 1)] = bad
    with pytest.raises(AudioError, match="NaN, infinite"):
        stream.accept(block)
    np.testing.assert_array_equal(np.concatenate([first, stream.accept(signal[cut:])]), whole)


# ---- the detector --------------------------------------------------------------------------


LABELS = ("_silence_", "_unknown_", "yes", "no", "up")
# Score levels, and thresholds drawn from them, so that smoothed scores tie thresholds often;
# k/256 are the levels an int8 model's scores take.
LEVELS = (0.0, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0, 230 / 256, 231 / 256, 128 / 256)
THRESHOLDS = st.sampled_from([level for level in LEVELS if level > 0])


@st.composite
def score_sequences(draw) -> np.ndarray:
    """Frames (frames, labels) in runs: for each run one label at a level, the rest sharing
    what is left, as a softmax gives."""
    runs = draw(
        st.lists(
            st.tuples(st.integers(0, len(LABELS) - 1), st.integers(1, 40), st.sampled_from(LEVELS)),
            min_size=1,
            max_size=25,
        )
    )
    rows = []
    for label, frames, level in runs:
        row = np.full(len(LABELS), (1 - level) / (len(LABELS) - 1))
        row[label] = level
        rows.append(np.repeat(row[np.newaxis], frames, axis=0))
    return np.concatenate(rows)


detector_configs = st.builds(
    DetectorConfig,
    smoothing_ms=st.sampled_from([0.0, 10.0, 30.0, 50.0, 100.0, 200.0]),
    threshold=THRESHOLDS,
    min_duration_ms=st.sampled_from([0.0, 10.0, 30.0, 100.0]),
    refractory_ms=st.sampled_from([0.0, 50.0, 300.0, 1000.0]),
)
keyword_thresholds = st.dictionaries(st.sampled_from(LABELS[2:]), THRESHOLDS, max_size=3)


def frame_of(time: float) -> int:
    hop = FEATURES.hop_samples / FEATURES.sample_rate
    return round((time - FEATURES.window_samples / FEATURES.sample_rate) / hop)


@pytest.mark.reliability(
    area="runtime",
    fault="smoothed scores exactly at a threshold, fed in other chunk sizes",
    outcome="the same detections and smoothed scores for any chunking",
)
@settings(max_examples=500, deadline=None)
@given(
    scores=score_sequences(),
    config=detector_configs,
    thresholds=keyword_thresholds,
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=8),
)
def test_the_detector_decides_the_same_for_any_chunking(scores, config, thresholds, sizes):
    whole_smoothed, whole = Detector(LABELS, config, FEATURES, thresholds).decide(scores)
    detector = Detector(LABELS, config, FEATURES, thresholds)
    pieces = in_pieces(detector.decide, scores, sizes)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in pieces]), whole_smoothed)
    assert [d for p in pieces for d in p[1]] == whole


@settings(max_examples=500, deadline=None)
@given(scores=score_sequences(), config=detector_configs, thresholds=keyword_thresholds)
def test_detections_respect_thresholds_duration_and_refractory(scores, config, thresholds):
    detector = Detector(LABELS, config, FEATURES, thresholds)
    smoothed, detections = detector.decide(scores)
    needed = max(1, round(config.min_duration_ms / FEATURES.hop_ms))
    refractory = round(config.refractory_ms / FEATURES.hop_ms)
    fired: list[tuple[int, int]] = []  # (frame, label)
    for detection in detections:
        frame, label = frame_of(detection.time), LABELS.index(detection.keyword)
        threshold = thresholds.get(detection.keyword, config.threshold)
        assert not detection.keyword.startswith("_")
        assert detection.score == smoothed[frame, label] >= threshold
        held = smoothed[frame - needed + 1 : frame + 1, label]  # the whole minimum duration
        assert frame + 1 >= needed and (held >= threshold).all()
        if fired:
            previous, previous_label = fired[-1]
            # its whole minimum duration after the previous detection and its refractory period
            assert frame - needed + 1 >= previous + 1 + refractory
            if previous_label == label:  # the same word again: its score fell in between
                assert (smoothed[previous + 1 : frame, label] < threshold).any()
        fired.append((frame, label))


@pytest.mark.reliability(
    area="runtime",
    fault="frame scores holding NaN, inf or values outside [0, 1]",
    outcome="ScoreError naming the frame; the detector carries on as before it",
)
@settings(max_examples=100, deadline=None)
@given(
    scores=score_sequences(),
    split=st.floats(0, 1),
    bad=st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 1.5, 1e300]),
    where=st.integers(0, 30),
)
def test_bad_scores_are_refused_and_change_nothing(scores, split, bad, where):
    config = DetectorConfig(smoothing_ms=50, threshold=0.6, min_duration_ms=30)
    whole_smoothed, whole = Detector(LABELS, config, FEATURES).decide(scores)
    detector = Detector(LABELS, config, FEATURES)
    cut = round(split * len(scores))
    first = detector.decide(scores[:cut])
    broken = np.tile(scores[:1], (where + 1, 1))
    broken[where, -1] = bad
    with pytest.raises(ScoreError, match=rf"frame {cut + where}\b"):
        detector.decide(broken)
    rest = detector.decide(scores[cut:])
    np.testing.assert_array_equal(np.concatenate([first[0], rest[0]]), whole_smoothed)
    assert first[1] + rest[1] == whole


def test_scores_of_the_wrong_shape_are_refused():
    detector = Detector(LABELS)
    for shape in [(10, len(LABELS) - 1), (10,), (2, 5, len(LABELS))]:
        with pytest.raises(ValueError, match=rf"\(frames, {len(LABELS)}\)"):
            detector.decide(np.zeros(shape))

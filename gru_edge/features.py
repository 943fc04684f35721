"""THE log-mel front end of gru_edge, in numpy: streaming, and the same for any chunking.

A frame is a periodic-Hann-windowed slice of `window` samples every `hop` samples, zero-padded
to `fft_length`; its power spectrum goes through a mel filter bank (the one
`tf.signal.linear_to_mel_weight_matrix` builds) and `log(mel + log_floor)`. Frames start at
sample 0 and a frame is only emitted once all its samples have arrived, so a stream cut into
pieces of any size yields exactly the frames of the whole signal. The arithmetic is float64:
float32 FFTs of different libraries disagree by ~1e-4 in the log of quiet bins, and this code
must agree with its TensorFlow twin (training/frontend.py) to 1e-5.
"""

from __future__ import annotations

import functools

import numpy as np

from gru_edge.config import FeatureConfig


def hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale, as TensorFlow defines it."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_weight_matrix(config: FeatureConfig) -> np.ndarray:
    """The (num_fft_bins, num_mel_bins) filter bank of `tf.signal.linear_to_mel_weight_matrix`:
    triangles spaced evenly on the mel scale, weights computed in mel space, DC bin zero."""
    fft_freqs = np.linspace(0.0, config.sample_rate / 2.0, config.num_fft_bins)[1:]
    fft_mels = hertz_to_mel(fft_freqs)[:, np.newaxis]
    edges = np.linspace(
        hertz_to_mel(config.lower_edge_hz),
        hertz_to_mel(config.upper_edge_hz),
        config.num_mel_bins + 2,
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (fft_mels - lower) / (center - lower)
    falling = (upper - fft_mels) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, ((1, 0), (0, 0)))


def periodic_hann(length: int) -> np.ndarray:
    """`tf.signal.hann_window(length, periodic=True)`; numpy's `hanning` is the symmetric one."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


@functools.cache
def _tables(c: FeatureConfig, batch_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gather indices, window and mel matrix of a front end, made once per settings and
    shared read-only by every extractor (a server runs one per client; the indices alone are
    1 MB)."""
    # Frames are gathered already zero-padded to fft_length: numpy's rfft pads slower.
    # Padding columns read sample 0 of their frame and are zeroed by the padded window.
    columns = np.where(np.arange(c.fft_length) < c.window_samples, np.arange(c.fft_length), 0)
    gather = np.arange(batch_frames)[:, np.newaxis] * c.hop_samples + columns
    window = np.pad(periodic_hann(c.window_samples), (0, c.fft_length - c.window_samples))
    tables = (gather, window, mel_weight_matrix(c))
    for table in tables:
        table.flags.writeable = False
    return tables


class FeatureExtractor:
    """Turns audio fed in pieces of any size into log-mel frames, carrying the window overlap.

    `accept(samples)` returns the (frames, num_mel_bins) float32 frames completed by `samples`,
    possibly none; the samples of unfinished frames wait in `pending`. `reset()` forgets them,
    for a new stream. `accept(samples, at_least=n)` returns no frames until it can return n or
    more: a caller that runs its model n frames at a time pays for the front end once per n
    frames, however small the blocks its audio comes in.
    """

    # Frames computed per numpy batch: amortizes numpy's per-call cost (the front end runs all
    # day on a device) while bounding memory when a whole file arrives at once.
    BATCH_FRAMES = 256

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        self._gather, self._window, self._mel = _tables(self.config, self.BATCH_FRAMES)
        self._hop, self._span = self.config.hop_samples, self.config.window_samples
        self.pending = np.zeros(0, dtype=np.float64)

    def reset(self) -> None:
        self.pending = np.zeros(0, dtype=np.float64)

    def accept(self, samples: np.ndarray, at_least: int = 1) -> np.ndarray:
        hop = self._hop
        signal = np.concatenate((self.pending, np.asarray(samples, dtype=np.float64).ravel()))
        count = _whole_frames(len(signal), self._span, hop)
        if count < at_least:
            self.pending = signal
            return np.zeros((0, self.config.num_mel_bins), np.float32)
        self.pending = signal[count * hop :]
        if count <= self.BATCH_FRAMES:
            return self._log_mel(signal, count)
        batches = range(0, count, self.BATCH_FRAMES)
        return np.concatenate(
            [
                self._log_mel(signal[start * hop :], min(self.BATCH_FRAMES, count - start))
                for start in batches
            ]
        )

    def _log_mel(self, signal: np.ndarray, count: int) -> np.ndarray:
        """The first `count` frames of `signal` (count <= BATCH_FRAMES)."""
        frames = signal[self._gather[:count]]
        frames *= self._window
        spectrum = np.fft.rfft(frames)
        power = spectrum.real**2
        power += spectrum.imag**2
        mel = power @ self._mel
        mel += self.config.log_floor
        return np.log(mel, out=mel).astype(np.float32)


def num_frames(num_samples: int, config: FeatureConfig) -> int:
    """How many whole frames `num_samples` samples hold (no padding at either end)."""
    return _whole_frames(num_samples, config.window_samples, config.hop_samples)


def _whole_frames(num_samples: int, window: int, hop: int) -> int:
    return 1 + (num_samples - window) // hop if num_samples >= window else 0


def log_mel(signal: np.ndarray, config: FeatureConfig | None = None) -> np.ndarray:
    """Log-mel frames of a whole signal: what a fresh FeatureExtractor yields for it."""
    return FeatureExtractor(config).accept(signal)

"""Settings of gru_edge as frozen dataclasses, read from and written to TOML.

Every section has defaults, so a TOML file names only what it changes. Unknown sections or
keys and values of the wrong type are refused with a message naming them: a typo never falls
back to a default without a word.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from gru_edge.atomicfile import write_text
from gru_edge.errors import ConfigError


@dataclass(frozen=True)
class FeatureConfig:
    """The log-mel front end. Training, export and the device all read these same values."""

    sample_rate: int = 16000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    fft_length: int = 512
    num_mel_bins: int = 40
    lower_edge_hz: float = 20.0
    upper_edge_hz: float = 7600.0
    log_floor: float = 1e-6

    def __post_init__(self) -> None:
        _require(self.sample_rate > 0, "features.sample_rate", "must be positive")
        for key in ("window_ms", "hop_ms"):
            samples = self.sample_rate * getattr(self, key) / 1000.0
            _require(
                samples >= 1 and math.isclose(samples, round(samples), abs_tol=1e-9),
                f"features.{key}",
                f"must be a whole number of samples at {self.sample_rate} Hz (is {samples:g})",
            )
        _require(
            self.hop_samples <= self.window_samples, "features.hop_ms", "must not exceed window_ms"
        )
        _require(
            self.fft_length >= self.window_samples,
            "features.fft_length",
            f"must be at least the window ({self.window_samples} samples)",
        )
        _require(self.num_mel_bins >= 1, "features.num_mel_bins", "must be at least 1")
        _require(
            0 <= self.lower_edge_hz < self.upper_edge_hz <= self.sample_rate / 2,
            "features.lower_edge_hz/upper_edge_hz",
            f"need 0 <= lower < upper <= {self.sample_rate / 2:g} Hz (Nyquist)",
        )
        _require(self.log_floor > 0, "features.log_floor", "must be positive")

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate * self.window_ms / 1000.0)

    @property
    def hop_samples(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000.0)

    @property
    def num_fft_bins(self) -> int:
        return self.fft_length // 2 + 1


KEYWORDS_12 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


@dataclass(frozen=True)
class DataConfig:
    """Which clips make which class, and how the splits are made (Speech Commands rules)."""

    words: tuple[str, ...] = KEYWORDS_12
    clip_ms: float = 1000.0
    silence_percentage: float = 10.0
    unknown_percentage: float = 10.0
    validation_percentage: float = 10.0  # used only where the list files are missing
    testing_percentage: float = 10.0
    silence_dbfs: tuple[float, float] = (-80.0, -10.0)
    seed: int = 59185
    # Folders of negative audio (gru_edge.negatives), split by group into these percentages.
    negatives: tuple[str, ...] = ()
    negatives_validation_percentage: float = 15.0
    negatives_testing_percentage: float = 15.0
    # Folders of mined windows (`gru-edge mine`) taught as negatives in the stream recipe.
    hard_negatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(len(self.words) > 0, "data.words", "must name at least one keyword")
        _require(len(set(self.words)) == len(self.words), "data.words", "has duplicates")
        _require(self.clip_ms > 0, "data.clip_ms", "must be positive")
        for key in (
            "silence_percentage",
            "unknown_percentage",
            "validation_percentage",
            "testing_percentage",
            "negatives_validation_percentage",
            "negatives_testing_percentage",
        ):
            _require(0 <= getattr(self, key) <= 100, f"data.{key}", "must be in [0, 100]")
        _require(
            self.validation_percentage + self.testing_percentage < 100,
            "data.validation_percentage + testing_percentage",
            "must leave training clips",
        )
        _require_range(self.silence_dbfs, "data.silence_dbfs")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation: on the waveform, then SpecAugment on the features."""

    noise_probability: float = 0.8
    snr_db: tuple[float, float] = (0.0, 20.0)
    time_shift_ms: float = 100.0
    gain_db: tuple[float, float] = (-6.0, 6.0)
    speed: tuple[float, float] = (0.9, 1.1)
    time_masks: int = 2
    time_mask_frames: int = 10
    freq_masks: int = 2
    freq_mask_bins: int = 5
    context_ms: float = 1000.0  # up to this much of another clip before each training clip

    def __post_init__(self) -> None:
        _require(0 <= self.noise_probability <= 1, "augment.noise_probability", "must be in [0, 1]")
        for key in ("snr_db", "gain_db", "speed"):
            _require_range(getattr(self, key), f"augment.{key}")
        _require(self.speed[0] > 0, "augment.speed", "must be positive")
        for key in (
            "time_shift_ms",
            "time_masks",
            "time_mask_frames",
            "freq_masks",
            "freq_mask_bins",
            "context_ms",
        ):
            _require(getattr(self, key) >= 0, f"augment.{key}", "must not be negative")


@dataclass(frozen=True)
class ModelConfig:
    """Features -> optional causal Conv1D -> GRU layers -> dense head."""

    conv_filters: int = 64  # 0: no convolution
    conv_kernel: int = 5
    gru_units: tuple[int, ...] = (128,)

    def __post_init__(self) -> None:
        _require(self.conv_filters >= 0, "model.conv_filters", "must not be negative")
        _require(self.conv_kernel >= 2, "model.conv_kernel", "must be at least 2")
        _require(
            1 <= len(self.gru_units) <= 2 and min(self.gru_units) >= 1,
            "model.gru_units",
            "must list one or two positive layer sizes",
        )


@dataclass(frozen=True)
class SequenceConfig:
    """The stream recipe's training sequences (gru_edge.training.sequences): clips inside
    negative audio, a target for every frame, and the validation streams that choose the
    checkpoint."""

    seconds: float = 3.0
    steps_per_epoch: int = 100
    max_clips: int = 2
    negative_audio_probability: float = 0.8  # else the dataset's background noise
    background_snr_db: tuple[float, float] = (0.0, 25.0)  # clips over the background
    background_dbfs: tuple[float, float] = (-60.0, -15.0)  # a sequence without clips
    window_before_ms: float = 150.0  # the max-pooling window around a keyword's end
    window_after_ms: float = 350.0
    after_clip_ignore_ms: float = 200.0
    span_ignore_ms: float = 500.0  # after a keyword marked in the negative audio
    negative_weight: float = 1.0
    negative_top_fraction: float = 1.0  # < 1: only the hardest negative frames count
    hard_negative_probability: float = 0.25  # a placed clip is a mined window instead
    validation_minutes: float = 30.0
    select_fa_per_hour: float = 4.0  # checkpoints compete on recall at this rate

    def __post_init__(self) -> None:
        for key in ("seconds", "steps_per_epoch", "validation_minutes", "select_fa_per_hour"):
            _require(getattr(self, key) > 0, f"sequences.{key}", "must be positive")
        for key in (
            "max_clips",
            "window_before_ms",
            "window_after_ms",
            "after_clip_ignore_ms",
            "span_ignore_ms",
        ):
            _require(getattr(self, key) >= 0, f"sequences.{key}", "must not be negative")
        _require(
            0 < self.negative_top_fraction <= 1,
            "sequences.negative_top_fraction",
            "must be in (0, 1]",
        )
        for key in ("negative_audio_probability", "hard_negative_probability"):
            _require(0 <= getattr(self, key) <= 1, f"sequences.{key}", "must be in [0, 1]")
        _require(self.negative_weight >= 0, "sequences.negative_weight", "must not be negative")
        for key in ("background_snr_db", "background_dbfs"):
            _require_range(getattr(self, key), f"sequences.{key}")


RECIPES = ("stream", "clips")


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation: a cosine learning-rate schedule with warm-up (cut to half of a run
    it does not fit: `--epochs 1` trains), early stopping. The recipe: "stream" (long
    sequences with frame targets, chosen on validation streams) or "clips" (isolated clips,
    chosen on clip accuracy)."""

    recipe: str = "stream"
    init_from: str = ""  # a run folder whose best model the new run starts from
    # A trained model (a run folder, a .keras file, or "shipped") whose layers below the head
    # start a model of other words.
    backbone: str = ""
    freeze_backbone: bool = False  # only the head learns (from a backbone or init_from)
    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    early_stopping_patience: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "early_stopping_patience"):
            _require(getattr(self, key) >= 1, f"training.{key}", "must be at least 1")
        _require(self.learning_rate > 0, "training.learning_rate", "must be positive")
        _require(self.warmup_epochs >= 0, "training.warmup_epochs", "must not be negative")
        _require(0 <= self.label_smoothing < 1, "training.label_smoothing", "must be in [0, 1)")
        _require(self.recipe in RECIPES, "training.recipe", f"must be one of {list(RECIPES)}")
        _require(
            not (self.init_from and self.backbone),
            "training.init_from and training.backbone",
            "exclude each other: init_from starts from a whole model of the same words, "
            "backbone from another model's layers under a new head",
        )


@dataclass(frozen=True)
class DetectorConfig:
    """Keyword events from frame scores: smoothing, a threshold, a minimum duration, and a
    refractory period after each detection. Exported models carry these as defaults."""

    smoothing_ms: float = 100.0
    threshold: float = 0.6
    min_duration_ms: float = 30.0
    refractory_ms: float = 1000.0

    def __post_init__(self) -> None:
        _require(0 < self.threshold <= 1, "detector.threshold", "must be in (0, 1]")
        for key in ("smoothing_ms", "min_duration_ms", "refractory_ms"):
            _require(getattr(self, key) >= 0, f"detector.{key}", "must not be negative")


@dataclass(frozen=True)
class Config:
    """All settings of gru_edge, one section per part of the product."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sequences: SequenceConfig = field(default_factory=SequenceConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        sections = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}; known: {sorted(sections)}")
        hints = typing.get_type_hints(cls)
        return cls(
            **{name: _section_from_dict(hints[name], name, table) for name, table in data.items()}
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> Config:
        path = Path(path)
        try:
            # TOML is UTF-8; "-sig" also takes the byte-order mark some editors write first.
            text = path.read_text(encoding="utf-8-sig")
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"{path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
                f"{e.start}): save it as UTF-8 (a TOML settings file, see `gru-edge config`)"
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_toml())


def _require(condition: bool, key: str, problem: str) -> None:
    if not condition:
        raise ConfigError(f"{key} {problem}")


def _require_range(pair: tuple[float, float], key: str) -> None:
    _require(pair[0] <= pair[1], key, f"must be [low, high] with low <= high, got {list(pair)}")


def _section_from_dict(section_type: type, name: str, table: Any) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(f"config section [{name}] must be a table, got {table!r}")
    keys = {f.name for f in dataclasses.fields(section_type)}
    unknown = sorted(set(table) - keys)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in [{name}]; known: {sorted(keys)}")
    hints = typing.get_type_hints(section_type)
    return section_type(
        **{key: _coerce(hints[key], f"{name}.{key}", value) for key, value in table.items()}
    )


def _coerce(expected: Any, key: str, value: Any) -> Any:
    """Checks one TOML value against its annotation; ints are accepted where floats are."""
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value):  # TOML has nan and inf; no setting means them
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
    elif expected is str:
        ok = isinstance(value, str)
    elif typing.get_origin(expected) is tuple:  # tuple[T, ...] or a fixed tuple[T1, T2]
        items = typing.get_args(expected)
        ok = isinstance(value, list | tuple) and (items[-1] is Ellipsis or len(value) == len(items))
        if not ok:
            raise ConfigError(f"{key} must be a list like {_example(expected)}, got {value!r}")
        item_types = [items[0]] * len(value) if items[-1] is Ellipsis else items
        return tuple(_coerce(t, key, v) for t, v in zip(item_types, value, strict=True))
    else:  # a new annotation in a section needs a rule here
        raise TypeError(f"no TOML rule for {expected!r} ({key})")
    if not ok:
        raise ConfigError(f"{key} must be of type {expected.__name__}, got {value!r}")
    return value


def _example(tuple_type: Any) -> str:
    items = typing.get_args(tuple_type)
    if items[-1] is Ellipsis:
        return f"[{items[0].__name__}, ...]"
    return "[" + ", ".join(t.__name__ for t in items) + "]"

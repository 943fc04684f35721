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


@dataclass(frozen=True)
class Config:
    """All settings of gru_edge, one section per part of the product."""

    features: FeatureConfig = field(default_factory=FeatureConfig)

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
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
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
        Path(path).write_text(self.to_toml(), encoding="utf-8")


def _require(condition: bool, key: str, problem: str) -> None:
    if not condition:
        raise ConfigError(f"{key} {problem}")


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
    elif expected is str:
        ok = isinstance(value, str)
    else:  # a new annotation in a section needs a rule here
        raise TypeError(f"no TOML rule for {expected!r} ({key})")
    if not ok:
        raise ConfigError(f"{key} must be of type {expected.__name__}, got {value!r}")
    return value

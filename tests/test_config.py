"""Settings: TOML round trip, and a clear refusal of unknown keys, wrong types, bad values."""

from __future__ import annotations

import tomllib

import pytest

from gru_edge.config import Config, FeatureConfig
from gru_edge.errors import ConfigError


def test_defaults_are_the_documented_front_end():
    features = Config().features
    assert features.sample_rate == 16000
    assert (features.window_samples, features.hop_samples) == (400, 160)
    assert (features.num_mel_bins, features.num_fft_bins) == (40, 257)


def test_toml_round_trip(tmp_path):
    config = Config(features=FeatureConfig(num_mel_bins=64, hop_ms=20, upper_edge_hz=8000))
    path = tmp_path / "config.toml"
    config.save(path)
    assert Config.from_toml(path) == config
    assert tomllib.loads(path.read_text())["features"]["num_mel_bins"] == 64


def test_a_file_names_only_what_it_changes(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[features]\nnum_mel_bins = 32\nwindow_ms = 30\n")
    features = Config.from_toml(path).features
    assert features.num_mel_bins == 32 and features.window_ms == 30.0
    assert isinstance(features.window_ms, float) and features.hop_ms == 10.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[feature]\nnum_mel_bins = 32\n", r"unknown config section\(s\) \['feature'\]"),
        ("[features]\nmel_bins = 32\n", r"unknown key\(s\) \['mel_bins'\] in \[features\]"),
        ("[features]\nnum_mel_bins = '40'\n", r"features\.num_mel_bins must be of type int"),
        ("[features]\nnum_mel_bins = 40.0\n", r"features\.num_mel_bins must be of type int"),
        ("[features]\nnum_mel_bins = true\n", r"features\.num_mel_bins must be of type int"),
        ("[features]\nhop_ms = 'ten'\n", r"features\.hop_ms must be of type float"),
        ("features = 3\n", r"section \[features\] must be a table"),
        ("[features]\nwindow_ms = 25.01\n", r"window_ms must be a whole number of samples"),
        ("[features]\nhop_ms = 30\n", r"hop_ms must not exceed window_ms"),
        ("[features]\nfft_length = 256\n", r"fft_length must be at least the window"),
        ("[features]\nupper_edge_hz = 9000\n", r"need 0 <= lower < upper <= 8000 Hz"),
        ("[features]\nlog_floor = 0\n", r"log_floor must be positive"),
        ("[features\n", r"is not valid TOML"),
    ],
)
def test_refuses_bad_files_naming_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        Config.from_toml(path)
    assert str(path) in str(error.value)


def test_refuses_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*nowhere\.toml"):
        Config.from_toml(tmp_path / "nowhere.toml")

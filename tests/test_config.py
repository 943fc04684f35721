"""Settings: TOML round trip, and a clear refusal of unknown keys, wrong types, bad values."""

from __future__ import annotations

import tomllib

import pytest

from gru_edge.cli import main
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


@pytest.mark.reliability(
    area="configuration",
    fault="a settings file that is not UTF-8 text (Latin-1, binary)",
    outcome="one line naming the file and the byte, exit 2",
)
@pytest.mark.parametrize(
    "content", ["[data]\nwords = ['sí']\n".encode("latin-1"), b"\x89PNG\r\n\x1a\n\x00\xff"]
)
def test_refuses_a_file_that_is_not_utf8_text(tmp_path, capsys, content):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(
        ConfigError, match=r"is not UTF-8 text \(byte 0x[0-9a-f]{2} at offset \d+\)"
    ):
        Config.from_toml(path)
    assert main(["config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gru-edge: error: {path} is not UTF-8") and err.count("\n") == 1


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "notepad.toml"
    path.write_bytes("\ufeff[data]\nwords = ['sí']\n".encode())
    assert Config.from_toml(path).data.words == ("sí",)


@pytest.mark.reliability(
    area="configuration",
    fault="nan or inf where a number is expected",
    outcome="one line naming the file and the key, exit 2",
)
@pytest.mark.parametrize(
    "text",
    [
        "[features]\nhop_ms = inf\n",
        "[features]\nwindow_ms = nan\n",
        "[training]\nlearning_rate = inf\n",
        "[detector]\nrefractory_ms = -inf\n",
        "[augment]\nsnr_db = [0.0, nan]\n",
    ],
)
def test_refuses_numbers_that_are_not_finite(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    key = text.split("\n")[1].split(" =")[0]
    with pytest.raises(ConfigError, match=rf"{key} must be a finite number") as error:
        Config.from_toml(path)
    assert str(path) in str(error.value)


@pytest.mark.reliability(
    area="configuration",
    fault="a settings path that is a folder",
    outcome="one line naming it, exit 2",
)
def test_refuses_a_folder_given_as_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*: Is a directory"):
        Config.from_toml(tmp_path)

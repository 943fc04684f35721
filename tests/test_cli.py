"""`gru-edge`: commands work, and bad input ends in one clear line, not a traceback."""

from __future__ import annotations

import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import soundfile
from signals import tone

from gru_edge.cli import CurrentStderr, build_parser, configure_logging, main


def test_features_command_prints_and_saves_frames(tmp_path, capsys):
    audio, out = tmp_path / "tone.wav", tmp_path / "frames.npy"
    soundfile.write(audio, tone(440, 1.0), 16000)
    assert main(["features", str(audio), "--out", str(out)]) == 0
    assert "1.00 s, 98 frames x 40 mel bins" in capsys.readouterr().out
    assert np.load(out).shape == (98, 40)


def test_config_command_prints_complete_toml(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text("[features]\nnum_mel_bins = 32\n")
    assert main(["config", "--config", str(path)]) == 0
    features = tomllib.loads(capsys.readouterr().out)["features"]
    assert features["num_mel_bins"] == 32 and features["hop_ms"] == 10.0


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["features", str(tmp_path / "missing.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gru-edge: error: ") and "missing.wav: no such file" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[features]\nbins = 3\n")
    assert main(["config", "--config", str(bad)]) == 2
    assert "unknown key(s) ['bins']" in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    script = str(Path(sys.executable).parent / "gru-edge")
    version = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("gru_edge ")
    bad = subprocess.run(
        [script, "features", "nowhere.wav"], capture_output=True, text=True, cwd=tmp_path
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_verbosity_is_chosen_before_or_after_the_command(capsys):
    parse = build_parser().parse_args
    assert parse(["stream", "x.wav"]).verbosity == "normal"
    assert parse(["-q", "stream", "x.wav"]).verbosity == "quiet"
    assert parse(["stream", "x.wav", "--verbose"]).verbosity == "verbose"
    logger = logging.getLogger("gru_edge.test")
    for verbosity, shown in (("quiet", []), ("normal", ["info"]), ("verbose", ["info", "debug"])):
        configure_logging(verbosity)
        logger.info("info")
        logger.debug("debug")
        lines = capsys.readouterr().err.splitlines()
        assert [line.split()[-1] for line in lines] == shown, verbosity
    configure_logging("normal")
    ours = [h for h in logging.getLogger("gru_edge").handlers if isinstance(h, CurrentStderr)]
    assert len(ours) == 1  # configuring twice adds nothing

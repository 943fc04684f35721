"""Evaluation through the runtime: clip accuracy, the streams, matching and the DET sweep."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from datasets import make_dataset
from signals import write_wav

from gru_edge.cli import main
from gru_edge.datasets import word_end
from gru_edge.evaluation.clips import clip_accuracy, clip_scores, decisions, evaluation_dataset
from gru_edge.evaluation.streams import (
    Occurrence,
    build_stream,
    match,
    operating_points,
    stream_dataset,
)
from gru_edge.runtime.detector import Detection
from gru_edge.runtime.stream import AudioStream, StreamingModel


@pytest.fixture(scope="module")
def int8_model(tiny_models):
    _, out = tiny_models
    return out.with_name("tiny.int8.tflite")


def test_clip_accuracy_through_the_runtime_decides_as_keras_does(
    tiny_models, tiny_sequence, tiny_data
):
    from gru_edge.features import log_mel

    _, out = tiny_models
    float32 = out.with_name("tiny.float32.tflite")
    result = clip_accuracy(float32, tiny_data)
    # The test split by the dataset's own rules: 4 keyword clips, 10 % silence and unknown.
    assert result["reset"]["clips"] == result["carried"]["clips"] == 6
    assert set(result["carried"]["per_class"]) == {"_silence_", "_unknown_", "yes", "no"}
    model = StreamingModel(float32)
    clips = stream_dataset(model, tiny_data).clips["test"]
    expected = tiny_sequence(np.stack([log_mel(a / 32768.0) for a in clips.audio])).numpy()
    runtime = decisions(AudioStream(model), clips.audio, reset=True)
    np.testing.assert_array_equal(runtime, expected[:, -1].argmax(axis=1))


@pytest.mark.parametrize("reset", [True, False])
def test_a_model_of_several_frames_a_chunk_decides_each_clip_on_its_last_frame(
    tiny_models, chunked_models, tiny_data, reset
):
    """As the one-frame model does: the chunk holding a clip's last frame is completed (with
    silence, or the next clips), not the clip decided on an earlier frame."""
    _, out = tiny_models
    one = StreamingModel(out.with_name("tiny.float32.tflite"))
    clips = stream_dataset(one, tiny_data).clips["test"]
    # Clips cut to lengths whose last frame is each place of a chunk of 4.
    audio = [clip[: 16000 - 160 * (i % 4)] for i, clip in enumerate(clips.audio)]
    four = AudioStream(StreamingModel(chunked_models["float32"]))
    np.testing.assert_allclose(
        clip_scores(four, audio, reset), clip_scores(AudioStream(one), audio, reset), atol=1e-5
    )


def test_streams_hold_their_keywords_where_they_say_and_are_seeded(int8_model, tiny_data):
    dataset = stream_dataset(StreamingModel(int8_model), tiny_data)
    segments = list(
        build_stream(dataset, hours=0.02, seed=4, sample_rate=16000, segment_seconds=20.0)
    )
    audio = np.concatenate([s.audio for s in segments])
    occurrences = [o for s in segments for o in s.occurrences]
    assert len(audio) == int(0.02 * 3600 * 16000) and len(segments) == 4
    assert {o.keyword for o in occurrences} <= {"yes", "no"} and len(occurrences) >= 8
    for o in occurrences:  # the word is there: much louder than the background around it
        word = audio[int(o.start * 16000) : int(o.word_end * 16000)]
        assert 0 < o.word_end - o.start <= 1.0 and np.abs(word).max() > 0.1
    again = np.concatenate([s.audio for s in build_stream(dataset, 0.02, 4, 16000, 20.0)])
    np.testing.assert_array_equal(again, audio)


def _talk(root, seconds: float = 40.0):
    """Negative audio: six speakers of faint noise, a "yes" marked at 2-2.5 s in each (the
    alignments say so; nothing is said there)."""
    import soundfile

    rng = np.random.default_rng(5)
    for speaker in ("a", "b", "c", "d", "e", "f"):
        (root / speaker).mkdir(parents=True)
        audio = rng.normal(0, 0.05, int(seconds * 16000)).astype(np.float32)
        soundfile.write(root / speaker / f"{speaker}-1.wav", audio, 16000)
    alignments = {f"{s}-1": [["yes", 2.0, 2.5]] for s in "abcdef"}
    (root / "word_alignments.json").write_text(json.dumps(alignments))
    return root


def test_talk_lies_over_the_stream_with_its_marked_spans_and_keeps_the_clips(
    int8_model, tiny_data, tmp_path
):
    from gru_edge.negatives import load_negatives

    dataset = stream_dataset(StreamingModel(int8_model), tiny_data)
    negatives = load_negatives([_talk(tmp_path / "talk")], ["yes", "no"], 16000, tmp_path / "c")
    plain = list(build_stream(dataset, 0.02, 4, 16000, 20.0))
    talk = list(build_stream(dataset, 0.02, 4, 16000, 20.0, negatives=negatives))
    assert [s.occurrences for s in talk] == [s.occurrences for s in plain]  # same clips
    louder = np.concatenate([s.audio for s in talk]) - np.concatenate([s.audio for s in plain])
    assert 0.001 < np.sqrt(np.mean(louder**2)) < 0.06  # -50 to -25 dBFS most of the time
    marked = [span for s in talk for span in s.marked]
    assert marked and all(0 <= a < b <= 0.02 * 3600 for a, b in marked)
    assert all(b - a == pytest.approx(0.5) for a, b in marked)


def test_matching_ignores_detections_in_marked_spans():
    detections = [Detection("yes", 5.3, 0.9), Detection("yes", 8.0, 0.9)]
    hits, false_accepts = match(detections, [], tolerance=1.0, marked=[(4.0, 4.5)])
    assert hits == [] and [d.time for d in false_accepts] == [8.0]


def test_eval_reports_false_accepts_on_negative_audio_alone(int8_model, tiny_data, tmp_path):
    talk = _talk(tmp_path / "talk")
    out = tmp_path / "negatives.json"
    args = ["eval", str(int8_model), "--data", str(tiny_data), "--json", str(out)]
    assert main([*args, "--negatives-only", "--negatives", str(talk)]) == 0
    result = json.loads(out.read_text())
    assert result["negatives_only"] and result["keywords"] == {"yes": 0, "no": 0}
    assert (
        result["hours"] == pytest.approx(40 / 3600) and result["at_model_threshold"]["frr"] is None
    )
    assert main([*args, "--negatives-only"]) == 2  # no folder to read


def test_word_end_finds_the_end_of_the_loud_part():
    clip = np.zeros(16000, np.float32)
    clip[3000:9000] = np.sin(np.arange(6000) / 5)
    assert word_end(clip, 16000) == pytest.approx(9000 / 16000, abs=0.011)


def test_matching_counts_hits_once_and_everything_else_as_false_accepts():
    occurrences = [Occurrence("yes", 10.0, 10.6), Occurrence("no", 20.0, 20.5)]
    detections = [
        Detection("yes", 10.7, 0.9),
        Detection("yes", 11.2, 0.9),  # hit, duplicate
        Detection("no", 12.0, 0.8),  # no "no" there
        Detection("no", 21.4, 0.8),
    ]  # 0.9 s after the word: within the tolerance
    hits, false_accepts = match(detections, occurrences, tolerance=1.0)
    assert [(o.keyword, d.time) for o, d in hits] == [("yes", 10.7), ("no", 21.4)]
    assert [d.time for d in false_accepts] == [11.2, 12.0]


def test_operating_points_take_the_best_threshold_within_the_limit():
    points = [
        {
            "threshold": t,
            "frr": frr,
            "fa_per_hour": fa,
            "per_keyword": {"yes": {"frr": frr, "fa_per_hour": fa}},
        }
        for t, frr, fa in [(0.3, 0.01, 9.0), (0.5, 0.04, 0.8), (0.7, 0.08, 0.4), (0.9, 0.30, 0.0)]
    ]
    at_fa = operating_points(points, ["yes"], "fa_per_hour", 0.5, "frr")
    assert at_fa["overall"] == {"threshold": 0.7, "frr": 0.08, "fa_per_hour": 0.4}
    at_frr = operating_points(points, ["yes"], "frr", 0.05, "fa_per_hour")
    assert at_frr["per_keyword"]["yes"]["threshold"] == 0.5
    assert operating_points(points, ["yes"], "frr", 0.001, "fa_per_hour")["overall"] is None


def test_eval_command_writes_its_report_and_plots(int8_model, tiny_data, tmp_path, capsys):
    base = ["eval", str(int8_model), "--data", str(tiny_data), "--plots", str(tmp_path / "plots")]
    assert main([*base, "--json", str(tmp_path / "clips.json")]) == 0
    assert "| **all** | 6 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "clips.json").read_text())["reset"]["clips"] == 6
    assert (tmp_path / "plots" / "confusion_carried.png").stat().st_size > 1000
    stream = [*base, "--streaming", "--hours", "0.02", "--json", str(tmp_path / "stream.json")]
    assert main(stream) == 0
    result = json.loads((tmp_path / "stream.json").read_text())
    assert result["hours"] == 0.02 and set(result["keywords"]) == {"yes", "no"}
    thresholds = [p["threshold"] for p in result["det"]]
    assert thresholds == sorted(thresholds) and len(thresholds) > 20
    assert (tmp_path / "plots" / "det.png").stat().st_size > 1000


def test_eval_measures_the_validation_split_and_other_detector_settings(
    int8_model, tiny_data, tmp_path
):
    settings = tmp_path / "detector.toml"
    settings.write_text("[detector]\nthreshold = 0.35\nsmoothing_ms = 200.0\n")
    out = tmp_path / "validation.json"
    streaming = ["--streaming", "--hours", "0.02", "--split", "validation"]
    args = ["eval", str(int8_model), "--data", str(tiny_data), "--json", str(out)]
    assert main([*args, *streaming, "--detector", str(settings)]) == 0
    result = json.loads(out.read_text())
    assert result["split"] == "validation"
    assert result["detector"]["threshold"] == 0.35 and result["detector"]["smoothing_ms"] == 200
    assert main([*args, "--split", "validation"]) == 0
    validation = evaluation_dataset(StreamingModel(int8_model), tiny_data, "validation")
    result = json.loads(out.read_text())
    assert result["split"] == "validation"
    assert result["reset"]["clips"] == len(validation.clips["validation"].audio) != 6


def _one_error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.reliability(
    area="evaluation",
    fault="eval --streaming of a split that holds no keyword clip",
    outcome="one line naming the data and split, exit 2 (it spun forever at full CPU)",
)
def test_a_stream_of_a_split_without_keywords_is_refused_at_once(committed_models, tmp_path):
    data = make_dataset(tmp_path / "data")
    listed = (data / "testing_list.txt").read_text().split()
    kept = [name for name in listed if name.split("/")[0] not in ("yes", "no")]
    (data / "testing_list.txt").write_text("\n".join(kept) + "\n")
    command = [sys.executable, "-m", "gru_edge.cli", "eval", str(committed_models["int8"])]
    command += ["--data", str(data), "--streaming", "--hours", "0.01"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"gru-edge: error: {data}: the test split holds no clip of the keywords" in done.stderr


@pytest.mark.reliability(
    area="evaluation",
    fault="eval --streaming --hours 0, negative, nan or inf",
    outcome="one line naming --hours, exit 2",
)
@pytest.mark.parametrize("hours", ["0", "-1", "nan", "inf", "1e-12"])
def test_a_stream_without_length_is_refused(committed_models, tiny_data, capsys, hours):
    argv = ["eval", str(committed_models["int8"]), "--data", str(tiny_data), "--streaming"]
    assert "--hours" in _one_error_line(capsys, [*argv, "--hours", hours])


@pytest.mark.reliability(
    area="evaluation",
    fault="eval --streaming on noise recordings shorter than the split's share",
    outcome="one line saying which recordings to make longer, exit 2",
)
def test_a_stream_without_usable_noise_is_refused(committed_models, tmp_path, capsys):
    data = make_dataset(tmp_path / "data")
    for i in range(2):  # 5 s each: 0.5 s of it is the test split's
        noise = np.random.default_rng(i).normal(0, 0.05, 5 * 16000).astype(np.float32)
        write_wav(data / "_background_noise_" / f"noise{i}.wav", noise)
    argv = ["eval", str(committed_models["int8"]), "--data", str(data), "--streaming"]
    assert "add longer recordings" in _one_error_line(capsys, argv)


@pytest.mark.reliability(
    area="evaluation",
    fault="eval --streaming --plots of a stream too short for every keyword to occur",
    outcome="report and DET plot of the keywords that occur; n/a for the others",
)
@pytest.mark.parametrize("hours", ["0.0005", "0.002"])  # no keyword; one of the two
def test_a_short_stream_is_reported_with_the_keywords_it_holds(
    committed_models, tiny_data, tmp_path, capsys, hours
):
    out, plots = tmp_path / "short.json", tmp_path / "plots"
    argv = ["eval", str(committed_models["int8"]), "--data", str(tiny_data), "--streaming"]
    argv += ["--hours", hours, "--json", str(out), "--plots", str(plots)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    counts = result["keywords"]
    assert 0 in counts.values() and "| n/a /" in capsys.readouterr().out
    missing = [k for k, n in counts.items() if not n]
    assert all(result["at_model_threshold"]["per_keyword"][k]["frr"] is None for k in missing)
    assert (plots / "det.png").is_file() == any(counts.values())


@pytest.mark.reliability(
    area="evaluation",
    fault="eval --negatives-only --plots",
    outcome="the report, and a note that a DET plot needs keywords (it tracebacked)",
)
def test_negatives_alone_are_reported_without_a_det_plot(
    committed_models, tiny_data, tmp_path, caplog
):
    plots = tmp_path / "plots"
    argv = ["eval", str(committed_models["int8"]), "--data", str(tiny_data), "--plots", str(plots)]
    with caplog.at_level("WARNING", logger="gru_edge"):
        assert main([*argv, "--negatives-only", "--negatives", str(_talk(tmp_path / "t"))]) == 0
    assert not list(plots.glob("*.png"))
    assert any("no DET plot" in record.getMessage() for record in caplog.records)

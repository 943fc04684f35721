"""Synthetic speech: voices found at run time, clips alike whatever the engine, the cache, and
texts that never hold a keyword. Engines that are not installed are skipped (espeak-ng is:
`make test` installs it; `make voices` adds the others)."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from gru_edge.cli import main
from gru_edge.synth import (
    ENGINES,
    MANIFEST,
    VERSION,
    Clip,
    SynthError,
    Voice,
    confusables,
    contains_keyword,
    find_voices,
    negative_texts,
    plan,
    random_sentences,
    synthesize,
)

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def voices_of(engine: str):
    voices = ENGINES[engine].voices()
    if not voices:
        pytest.skip(f"{engine} is not installed ({ENGINES[engine].install})")
    return voices


def read_wav(path):
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2") / 32768.0


def test_espeak_ng_voices_are_found_with_their_variants():
    voices = voices_of("espeak-ng")
    assert "en-US" in {voice.name for voice in voices}
    assert all(voice.id.startswith("espeak-ng-") for voice in voices)
    assert "" in voices[0].variants and len(voices[0].variants) > 10


def test_a_missing_engine_is_one_line_that_says_how_to_get_it(monkeypatch, caplog):
    voices_of("espeak-ng")
    monkeypatch.setattr(ENGINES["flite"], "voices", list)
    voices = find_voices()
    assert voices and all(voice.engine != "flite" for voice in voices)
    [line] = [r.message for r in caplog.records if "not installed" in r.message]
    assert "flite (make voices, or apt install flite)" in line
    with pytest.raises(SynthError, match="flite is not installed here: make voices"):
        find_voices(["flite"])


def test_unknown_voices_and_engines_are_clear_errors(capsys):
    voices_of("espeak-ng")
    with pytest.raises(
        SynthError, match=r"unknown voice 'espeak-ng:klingon': espeak-ng has .*en-US"
    ):
        find_voices(["espeak-ng:klingon"])
    with pytest.raises(SynthError, match="unknown engine 'sam'.*espeak-ng, flite"):
        find_voices(["sam:default"])
    assert main(["synth-negatives", "--keywords", "yes", "--out", "x", "--voices", "sam"]) == 2
    assert capsys.readouterr().err.startswith("gru-edge: error: unknown engine 'sam'")


@pytest.mark.parametrize("engine", list(ENGINES))
def test_each_engine_makes_16_khz_mono_clips_at_one_level(engine, tmp_path):
    voice = voices_of(engine)[0]
    clips = plan(["Stop the stock market.", "yeah"], [voice], seed=1)
    outcomes = list(synthesize(clips, tmp_path, jobs=2))
    assert [o.status for o in outcomes] == ["made", "made"]
    records = [json.loads(line) for line in (tmp_path / MANIFEST).read_text().splitlines()]
    assert {r["text"] for r in records} == {"Stop the stock market.", "yeah"}
    for record in records:
        assert record["file"].startswith(f"{voice.id}/")
        samples = read_wav(tmp_path / record["file"])
        assert record["seconds"] == pytest.approx(len(samples) / 16000, abs=1e-3)
        assert 0.15 < record["seconds"] < 4.0
        rms_db = 20 * np.log10(np.sqrt(np.mean(samples**2)))
        assert -24 < rms_db < -19 and np.abs(samples).max() < 0.9
        # Trimmed: the clip starts and ends near the speech, not in a long silence.
        assert np.abs(samples[:1600]).max() > 0.01 and np.abs(samples[-1600:]).max() > 0.01


def test_a_second_run_makes_nothing_and_more_clips_add_to_the_folder(tmp_path):
    voice = voices_of("espeak-ng")[0]
    clips = plan(["one two", "three four", "five six"], [voice], seed=0)
    assert [o.status for o in synthesize(clips, tmp_path)] == ["made"] * 3
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")}
    assert [o.status for o in synthesize(clips, tmp_path)] == ["cached"] * 3
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")} == before
    more = plan(["seven eight"], [voice], seed=0)
    assert [o.status for o in synthesize(clips + more, tmp_path)] == ["cached"] * 3 + ["made"]
    assert sorted(p.name for p in (tmp_path / voice.id).iterdir()) == [
        f"{i:05d}.wav" for i in range(4)
    ]
    (tmp_path / voice.id / "00000.wav").unlink()  # a deleted clip is made again
    assert sorted(o.status for o in synthesize(clips, tmp_path)) == ["cached", "cached", "made"]
    assert len((tmp_path / MANIFEST).read_text().splitlines()) == 4


def test_clips_of_an_older_version_are_made_again(tmp_path):
    voice = voices_of("espeak-ng")[0]
    clips = plan(["one two"], [voice], seed=0)
    list(synthesize(clips, tmp_path))
    manifest = tmp_path / MANIFEST
    manifest.write_text(manifest.read_text().replace(f'"version": {VERSION}', '"version": 0'))
    assert [o.status for o in synthesize(clips, tmp_path)] == ["made"]
    assert [p.name for p in (tmp_path / voice.id).iterdir()] == ["00000.wav"]
    assert (
        f'"version": {VERSION}' in manifest.read_text()
        and len(manifest.read_text().splitlines()) == 1
    )


def test_a_failing_clip_is_reported_and_the_others_are_made(tmp_path, caplog):
    voice = voices_of("espeak-ng")[0]
    silent = Clip(voice.engine, voice.name, "", 1.0, 1.0, "")
    spoken = Clip(voice.engine, voice.name, "", 1.0, 1.0, "hello")
    outcomes = {o.clip: o.status for o in synthesize([silent, spoken], tmp_path)}
    assert outcomes == {silent: "failed", spoken: "made"}
    assert "not made" in caplog.text


def test_the_plan_is_seeded_and_shares_the_texts_among_the_voices():
    voices = [Voice("espeak-ng", name, ("", "+f1")) for name in ("a", "b", "c")]
    texts = [f"text {i}" for i in range(30)]
    clips = plan(texts, voices, seed=3)
    assert clips == plan(texts, voices, seed=3) != plan(texts, voices, seed=4)
    assert sorted(c.text for c in clips) == sorted(texts)
    assert {v.name: sum(c.voice == v.name for c in clips) for v in voices} == dict.fromkeys(
        "abc", 10
    )
    assert all(0.8 <= c.rate <= 1.3 and 0.85 <= c.pitch <= 1.15 for c in clips)


def test_confusables_are_near_the_keywords_and_never_one_of_them():
    near = confusables(KEYWORDS)
    assert {"yeah", "yet", "stock", "top", "stopped", "lift", "light", "goal"} <= set(near)
    assert not any(contains_keyword(text, KEYWORDS) for text in near)
    assert not {"know", "write"} & set(near)  # homophones are the keyword to the ear


def test_the_rules_make_neighbours_of_any_word_or_phrase():
    rules = confusables(["shelf"])
    assert {"self", "helf", "elf", "shalf", "shel", "shet", "shelfs", "shelfing"} <= set(rules)
    assert "shelf" not in rules
    near = confusables(["hey kitchen"])
    assert {"hey", "kitchen", "hey kit", "hey kitchens", "hay kitchen", "hey katchen"} <= set(near)
    assert not any(contains_keyword(text, ["hey kitchen"]) for text in near)


def test_random_sentences_never_hold_a_keyword():
    sentences = random_sentences(300, seed=5, keywords=KEYWORDS)
    assert len(set(sentences)) > 290 and sentences == random_sentences(300, 5, KEYWORDS)
    assert not any(contains_keyword(s, KEYWORDS) for s in sentences)
    # A keyword from the built-in words, and one that is a phrase of them, are kept out too.
    for sentence in random_sentences(300, seed=6, keywords=["the", "old man"]):
        assert not contains_keyword(sentence, ["the", "old man"]), sentence
    assert contains_keyword("Stop, please.", ["stop"]) and not contains_keyword("stops", ["stop"])


def test_negative_texts_are_half_confusables_half_sentences():
    texts = negative_texts(KEYWORDS, 40, seed=0)
    assert len(texts) == 40 and not any(contains_keyword(t, KEYWORDS) for t in texts)
    assert set(texts[:20]) <= set(confusables(KEYWORDS))
    assert all(t.endswith(".") and len(t.split()) >= 3 for t in texts[20:])


def test_synth_negatives_command_writes_a_folder_per_voice(tmp_path, capsys):
    voice = voices_of("espeak-ng")[0]
    out = tmp_path / "negatives"
    args = ["synth-negatives", "--keywords", "yes,no", "--out", str(out), "--count", "4"]
    assert main([*args, "--voices", f"espeak-ng:{voice.name}", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"{voice.id}" in printed and "minutes of speech" in printed
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert len(records) == 4 and {r["voice"] for r in records} == {voice.name}
    assert not any(contains_keyword(r["text"], ["yes", "no"]) for r in records)
    assert [p.name for p in out.iterdir() if p.is_dir()] == [voice.id]

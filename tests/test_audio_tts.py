"""Offline text-to-speech with the real engines: audio, phoneme timings checked against the audio
itself, every one-line error, and saving."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from makeittalk.audio import SAMPLE_RATE, load_audio
from makeittalk.audio import tts
from makeittalk.audio.tts import (
    ENGINES,
    MAX_TEXT_CHARS,
    Phone,
    Speech,
    TextToSpeechError,
    available_engines,
    parse_voice,
    read_text_file,
    synthesize,
)
from makeittalk.errors import MakeItTalkError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
needs_festival = pytest.mark.skipif(shutil.which("text2wave") is None, reason="festival is not installed")


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message and message
    return message


def _mean_abs(speech: Speech, phones: list[Phone], *, first_half: bool = False) -> float:
    x = np.abs(speech.waveform.samples.astype(np.float64))
    parts = []
    for ph in phones:
        a, b = int(round(ph.start * SAMPLE_RATE)), int(round(ph.end * SAMPLE_RATE))
        if first_half:
            b = (a + b) // 2
        parts.append(x[a:b])
    return float(np.concatenate(parts).mean())


def _check_phones(speech: Speech) -> None:
    """Monotone, non-overlapping, inside the audio and covering it from start to end."""
    phones = speech.phones
    assert phones
    assert phones[0].start == 0.0
    assert abs(phones[-1].end - speech.waveform.seconds) < 1e-6
    for ph in phones:
        assert 0.0 <= ph.start < ph.end <= speech.waveform.seconds + 1e-9
    for before, after in zip(phones, phones[1:]):
        assert before.end <= after.start + 1e-9


def _mbrola_voice_installed() -> str | None:
    if shutil.which("espeak-ng") is None or shutil.which("mbrola") is None:
        return None
    listing = subprocess.run(["espeak-ng", "--voices=mb"], capture_output=True, text=True, timeout=60).stdout
    # espeak-ng lists its mbrola voice definitions whether or not the voice databases exist.
    for name in re.findall(r"\bmb/(mb-[a-z]+\d)\b", listing):
        db = name[3:]
        roots = [Path("/usr/share/mbrola") / db / db, Path("/usr/share/mbrola") / db,
                 Path("/usr/share/mbrola/voices") / db]
        if any(p.is_file() for p in roots):
            return name
    return None


# --------------------------------------------------------------------------------------------
# espeak-ng


@needs_espeak
def test_espeak_hello_world_is_16k_speech_with_phones():
    speech = synthesize("Hello world")
    wave = speech.waveform
    assert speech.engine == "espeak-ng" and speech.voice == "en"
    assert wave.samples.dtype == np.int16 and wave.sample_rate == SAMPLE_RATE
    assert 0.5 < wave.seconds < 3.0
    assert np.sqrt(np.mean(wave.samples.astype(np.float64) ** 2)) > 500  # real speech, not hiss
    assert wave.source == 'espeak-ng voice en: "Hello world"'
    _check_phones(speech)
    assert {"vowel", "pause"} <= {p.kind for p in speech.phones}


@needs_espeak
def test_espeak_phone_kinds_for_a_sentence():
    speech = synthesize("Bob bought a map")
    _check_phones(speech)
    kinds = [p.kind for p in speech.phones]
    assert kinds.count("bilabial") >= 4 and kinds.count("vowel") >= 4  # b b b m p / 0 O: a# a
    assert [p.symbol for p in speech.phones if p.kind == "bilabial"][-1] == "p"


@needs_espeak
@pytest.mark.parametrize("text", ["a big map", "Bob bought a map", "Peter picked a pepper"])
def test_espeak_bilabial_closures_line_up_with_quiet_audio(text):
    """The lips are closed during a stop's closure, so the audio there is (near) silent: every
    p/b's first half must be much quieter than the vowels, measured on the real audio."""
    speech = synthesize(text)
    vowels = [p for p in speech.phones if p.kind == "vowel"]
    stops = [p for p in speech.phones if p.symbol in ("p", "b")]
    assert vowels and stops
    vowel_level = _mean_abs(speech, vowels)
    assert _mean_abs(speech, stops, first_half=True) < 0.7 * vowel_level
    for stop in stops:
        assert _mean_abs(speech, [stop], first_half=True) < 0.7 * vowel_level, stop


@needs_espeak
def test_espeak_unreleased_p_owns_its_closure_silence():
    """espeak reports a stop's phoneme event after its closure silence; the silence must belong to
    the p of "map", not to the vowel before it."""
    speech = synthesize("a big map")
    phones = list(speech.phones)
    i = max(k for k, p in enumerate(phones) if p.symbol == "p")
    vowel, stop = phones[i - 1], phones[i]
    assert vowel.kind == "vowel"
    x = np.abs(speech.waveform.samples.astype(np.float64))
    frame = SAMPLE_RATE // 200  # 5 ms
    edge = int(round(stop.start * SAMPLE_RATE))
    assert x[edge : edge + 4 * frame].mean() < 50  # the stop starts with its (digital) silence
    assert x[edge - 4 * frame : edge].mean() > 500  # and the vowel ends with sound
    assert stop.end - stop.start > 0.05


@needs_espeak
@pytest.mark.parametrize(
    "voice,text",
    [("en", "Good morning"), ("de", "Guten Morgen"), ("fr", "Bonjour tout le monde"),
     ("es", "Buenos días"), ("ru", "Доброе утро"), ("hi", "नमस्ते दुनिया"), ("ar", "صباح الخير"),
     ("zh", "你好世界")],  # "zh" is a language, not a voice name: espeak picks cmn, as its CLI does
)
def test_espeak_languages(voice, text):
    speech = synthesize(text, voice=voice)
    assert speech.voice == voice
    assert speech.waveform.seconds > 0.3 and np.abs(speech.waveform.samples).max() > 1000
    _check_phones(speech)
    assert "vowel" in {p.kind for p in speech.phones}


@needs_espeak
def test_espeak_library_matches_the_command_line(monkeypatch):
    """Timings come from libespeak-ng; its audio must sound like what `espeak-ng -w` writes (the
    same text handling: "[[...]]" is text, not phoneme input), and without the library the command
    line is used (audio only). The library keeps a little prosody state between calls (a fresh
    process does not), so lengths may differ by about 1 %."""
    texts = {"-v Then, he left <b> now": 0.03, "he left [[x]] now": 0.10}  # [[ gets a pause break
    with_library = {text: synthesize(text, voice="espeak-ng:en") for text in texts}
    monkeypatch.setattr(tts, "_espeak_library", lambda: None)
    for text, tolerance in texts.items():
        without = synthesize(text, voice="espeak-ng:en")
        assert without.phones is None and with_library[text].phones is not None
        a, b = with_library[text].waveform.samples.astype(float), without.waveform.samples.astype(float)
        assert abs(len(a) - len(b)) < tolerance * len(b), text
        assert 0.8 < np.sqrt(np.mean(a**2)) / np.sqrt(np.mean(b**2)) < 1.25


@needs_espeak
def test_espeak_library_is_safe_from_threads():
    """The library has one global callback: concurrent calls must not mix their audio or events."""
    from concurrent.futures import ThreadPoolExecutor

    texts = ["a big map", "Bob bought a map", "Guten Morgen"] * 3
    voices = ["en", "en", "de"] * 3
    expected = {t: [p.symbol for p in synthesize(t, voice=v).phones] for t, v in zip(texts[:3], voices[:3])}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda tv: synthesize(tv[0], voice=tv[1]), zip(texts, voices)))
    for text, speech in zip(texts, results):
        assert [p.symbol for p in speech.phones] == expected[text]
        _check_phones(speech)


@needs_espeak
def test_espeak_voice_settings_do_not_leak_between_calls():
    """ru's voice file slows speech to 95 %; the process-wide library must not keep that for a
    later English call (each CLI run starts fresh, the library does not)."""
    text = "Then he left the big house and went home"
    before = synthesize(text, voice="en").waveform.seconds
    synthesize("Доброе утро, как дела", voice="ru")
    after = synthesize(text, voice="en").waveform.seconds
    assert abs(after - before) < 0.03 * before


@needs_espeak
def test_espeak_text_is_never_read_as_options_or_markup():
    speech = synthesize('--help -w /tmp/x "quoted" [[h@loU]] <speak>')
    assert speech.waveform.seconds > 1.0
    assert 'espeak-ng voice en: "--help -w /tmp/x \'quoted\' [[h@loU]] <speak>"' == speech.waveform.source


@needs_espeak
def test_long_text_source_is_truncated():
    speech = synthesize("one two three four five six seven eight nine ten eleven twelve thirteen")
    assert speech.waveform.source.endswith('..."') and len(speech.waveform.source) < 100


def test_mbrola_voice_with_timings():
    voice = _mbrola_voice_installed()
    if voice is None:
        pytest.skip("no mbrola voice is installed (e.g. sudo apt-get install mbrola mbrola-en1)")
    speech = synthesize("Bob bought a map", voice=voice)
    assert speech.engine == "espeak-ng" and speech.voice == voice
    _check_phones(speech)
    assert "bilabial" in {p.kind for p in speech.phones}
    assert abs(speech.phones[-1].end - speech.waveform.seconds) < 1e-6


@needs_espeak
def test_missing_mbrola_voice_names_its_package():
    if _mbrola_voice_installed() == "mb-de2":
        pytest.skip("mb-de2 is installed")
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("Hallo", voice="mb-de2")
    assert "apt-get install" in _one_line(exc) and "mbrola-de2" in str(exc.value)


def test_parse_pho():
    phones = tts._parse_pho("; comment\n_\t25\nb\t60\t0 120 50 125\n#\nO:\t100\n")
    assert [(p.symbol, round(p.start, 3), round(p.end, 3)) for p in phones] == [
        ("_", 0.0, 0.025), ("b", 0.025, 0.085), ("O:", 0.085, 0.185)]


# --------------------------------------------------------------------------------------------
# flite and festival


@needs_flite
def test_flite_synthesises_with_timings():
    speech = synthesize("a big map", voice="flite:slt")
    assert speech.engine == "flite" and speech.voice == "slt"
    assert speech.waveform.sample_rate == SAMPLE_RATE and 0.5 < speech.waveform.seconds < 3.0
    _check_phones(speech)
    assert [p.symbol for p in speech.phones if p.kind == "bilabial"] == ["b", "m", "p"]
    vowels = [p for p in speech.phones if p.kind == "vowel"]
    assert _mean_abs(speech, [p for p in speech.phones if p.symbol == "p"]) < 0.7 * _mean_abs(speech, vowels)


@needs_flite
def test_flite_speaks_every_sentence_with_continuous_times():
    """flite drops a text file's last sentence without a final newline, and -psdur restarts its
    times at 0 for every sentence."""
    speech = synthesize("Hello there. How are you today? Fine.", voice="flite:slt")
    _check_phones(speech)
    assert [p.symbol for p in speech.phones][-4:] == ["f", "ay", "n", "pau"]
    assert speech.waveform.seconds > 2.8
    fine = next(p for p in reversed(speech.phones) if p.symbol == "ay")
    assert fine.start > 2.0


@needs_flite
def test_flite_8k_voice_is_resampled_and_unknown_voice_is_refused():
    assert synthesize("hello", engine="flite", voice="kal").waveform.sample_rate == SAMPLE_RATE
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("hello", voice="flite:nosuchvoice")
    assert "flite -lv" in _one_line(exc)


@needs_festival
def test_festival_synthesises():
    speech = synthesize("Hello world", engine="festival")
    assert speech.engine == "festival" and speech.phones is None
    assert speech.waveform.seconds > 0.3


# --------------------------------------------------------------------------------------------
# Errors


def test_no_engine_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert available_engines() == []
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("Hello")
    assert "apt-get install espeak-ng" in _one_line(exc)
    assert isinstance(exc.value, MakeItTalkError)


@pytest.mark.parametrize("engine,package", [("espeak-ng", "espeak-ng"), ("flite", "flite"), ("festival", "festival")])
def test_missing_named_engine_names_its_package(monkeypatch, tmp_path, engine, package):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("Hello", engine=engine)
    assert f"sudo apt-get install {package}" in _one_line(exc)


@needs_espeak
def test_unknown_espeak_voice():
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("Hello", voice="nosuchvoice")
    assert "espeak-ng --voices" in _one_line(exc)


def test_bad_engine_and_conflicting_voice():
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("Hello", engine="sapi")
    assert "espeak-ng, flite, festival" in _one_line(exc)
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("Hello", voice="flite:slt", engine="espeak-ng")
    _one_line(exc)


@pytest.mark.parametrize("text", ["", "   \n\t", "\x00\x01"])
def test_empty_text(text):
    with pytest.raises(TextToSpeechError) as exc:
        synthesize(text)
    assert "empty" in _one_line(exc)


def test_text_too_long():
    with pytest.raises(TextToSpeechError) as exc:
        synthesize("a" * (MAX_TEXT_CHARS + 1))
    assert str(MAX_TEXT_CHARS) in _one_line(exc)


def test_parse_voice():
    assert parse_voice(None) == (None, None)
    assert parse_voice("  ") == (None, None)
    assert parse_voice("fr") == (None, "fr")
    assert parse_voice("flite:slt") == ("flite", "slt")
    assert parse_voice("espeak-ng:de") == ("espeak-ng", "de")
    assert parse_voice("espeak:en-us+f3") == ("espeak-ng", "en-us+f3")
    assert parse_voice("mb-en1") == ("espeak-ng", "mb-en1")
    assert parse_voice("festival:") == ("festival", None)
    assert parse_voice("festival:kal_diphone") == ("festival", "kal_diphone")
    with pytest.raises(TextToSpeechError) as exc:
        parse_voice("sapi:david")
    _one_line(exc)
    assert ENGINES == ("espeak-ng", "flite", "festival")


@pytest.mark.parametrize(
    "symbol,kind",
    [("p", "bilabial"), ("b", "bilabial"), ("m", "bilabial"), ("'m", "bilabial"), ("m-", "bilabial"),
     ("f", "labiodental"), ("v", "labiodental"), ("a", "vowel"), ("O:", "vowel"), ("a#", "vowel"),
     ("@2", "vowel"), ("'oU", "vowel"), ("ae", "vowel"), ("ah0", "vowel"), ("{", "vowel"), ("3:", "vowel"),
     ("_:", "pause"), ("_", "pause"), ("pau", "pause"), ("", "pause"), ("t", "other"), ("S", "other"),
     ("hh", "other"), ("n^", "other"), (";", "other"), ("tS", "other")],
)
def test_phone_kind(symbol, kind):
    assert Phone(symbol, 0.0, 0.1).kind == kind


def test_read_text_file(tmp_path):
    good = tmp_path / "speech.txt"
    good.write_bytes("\ufeffBonjour à tous\n".encode("utf-8"))
    assert read_text_file(good) == "Bonjour à tous\n"
    cases = {
        tmp_path / "missing.txt": "does not exist",
        tmp_path: "folder",
    }
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    cases[empty] = "empty"
    long = tmp_path / "long.txt"
    long.write_text("word " * (MAX_TEXT_CHARS // 4))
    cases[long] = str(MAX_TEXT_CHARS)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    cases[latin] = "UTF-8"
    for path, words in cases.items():
        with pytest.raises(TextToSpeechError) as exc:
            read_text_file(path)
        assert words in _one_line(exc) and str(path) in str(exc.value)


# --------------------------------------------------------------------------------------------
# Saving


@needs_espeak
def test_save_is_readable_and_refuses_to_overwrite(tmp_path):
    speech = synthesize("Hello world")
    target = speech.save(tmp_path / "hello.wav")
    assert target == tmp_path / "hello.wav"
    again = load_audio(target)
    assert np.array_equal(again.samples, speech.waveform.samples)
    with pytest.raises(MakeItTalkError) as exc:
        speech.save(target)
    assert "overwrite" in _one_line(exc)
    other = synthesize("Goodbye")
    other.save(target, overwrite=True)
    assert np.array_equal(load_audio(target).samples, other.waveform.samples)
    with pytest.raises(MakeItTalkError):
        speech.save(tmp_path / "hello.mp3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.wav"]  # no partial files left

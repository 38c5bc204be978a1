"""Offline text-to-speech, so a talking head can be driven by `--text "..."` instead of a recording.

espeak-ng is the default engine: small, in every distribution, 100+ languages. It is driven through
its C library (ctypes) because only the library reports phoneme timings for espeak's own voices
(`--pho` prints nothing for them); audio and phoneme events come from one synthesis, so the timings
match the samples exactly. flite (timings from `-psdur`), festival (`text2wave`, no timings) and
mbrola voices (`mb-*` through espeak-ng, timings from `.pho`) are optional. Nothing here touches
the network, and nothing heavy is imported with the module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from makeittalk.audio.io import SAMPLE_RATE, Waveform, load_audio
from makeittalk.errors import AudioError, MakeItTalkError
from makeittalk.fileio import atomic_output

ENGINES = ("espeak-ng", "flite", "festival")
MAX_TEXT_CHARS = 20_000
TIMEOUT_S = 120.0

_PROGRAMS = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}
_ALIASES = {"espeak": "espeak-ng", **{e: e for e in ENGINES}}
_LIST_VOICES = {"espeak-ng": "espeak-ng --voices", "flite": "flite -lv",
                "festival": "echo '(print (voice.list))' | festival --pipe"}


class TextToSpeechError(MakeItTalkError):
    """Text that cannot be spoken, or a speech engine or voice that is missing or failed."""


# Symbols come from three alphabets: espeak mnemonics ("a#", "O:", "@2"), mbrola SAMPA ("{", "@U")
# and flite ARPAbet ("ae", "pau"). The classes are what the lips must do.
_PAUSES = {"pau", "sil", "sp", "spn", "h#", "#"}
_MARKS = re.compile(r"[\'\u02c8\u02cc,:\u02d0;!=~`\-\^<>|/\"%#]")
_BILABIAL = {"p", "b", "m", "ph", "bh", "mh", "pp", "bb", "mm"}
_LABIODENTAL = {"f", "v", "ff", "vv", "pf"}
# "y" is a rounded vowel in espeak/SAMPA but a glide in ARPAbet; either way the mouth is vowel-like.
_VOWEL_STARTS = set("aeiouyAEIOUVYQ@3&0126789{}") | set("ɑæɐɒəɛɜɪɔʊʌøœɨʉɯɤɵ")


@dataclass(frozen=True)
class Phone:
    """One phoneme and its time span in the returned audio, in seconds."""

    symbol: str
    start: float
    end: float

    @property
    def kind(self) -> str:
        """What the lips do: "bilabial" (p b m), "labiodental" (f v), "vowel", "pause" or "other"."""
        raw = self.symbol.strip()
        if not raw or raw.startswith("_") or raw.lower() in _PAUSES:
            return "pause"
        base = _MARKS.sub("", raw)
        if len(base) > 1:
            base = base.rstrip("0123456789") or base  # ARPAbet stress, espeak variants: "ah0", "@2"
        if not base:
            return "other"  # espeak's ";" linking phoneme: sound, but no vowel or lip target
        if base in _BILABIAL:
            return "bilabial"
        if base in _LABIODENTAL:
            return "labiodental"
        return "vowel" if base[0] in _VOWEL_STARTS else "other"


@dataclass(frozen=True, eq=False)
class Speech:
    """Synthesised speech: 16 kHz audio plus, when the engine gives them, phoneme timings that
    cover the audio from 0 to its end without gaps or overlaps."""

    waveform: Waveform
    engine: str
    voice: str
    phones: tuple[Phone, ...] | None

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write a 16 kHz mono PCM16 wav; never half-written, never silently replacing a file."""
        target = Path(path)
        with atomic_output(target, overwrite=overwrite, suffixes=(".wav",)) as partial:
            import soundfile

            soundfile.write(str(partial), self.waveform.samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        return target


def available_engines() -> list[str]:
    """The engines whose program is on PATH, in order of preference."""
    return [e for e in ENGINES if shutil.which(_PROGRAMS[e])]


def parse_voice(voice: str | None) -> tuple[str | None, str | None]:
    """Split "[ENGINE:]NAME" into (engine or None, name or None); "mb-*" names imply espeak-ng."""
    if voice is None or not voice.strip():
        return None, None
    engine, name = None, voice.strip()
    if ":" in name:
        prefix, name = (part.strip() for part in name.split(":", 1))
        engine = _ALIASES.get(prefix.lower())
        if engine is None:
            raise TextToSpeechError(f"unknown speech engine {prefix!r} in voice {voice.strip()!r}; "
                                    f"use one of {', '.join(ENGINES)}")
    if engine is None and name.lower().startswith("mb-"):
        engine = "espeak-ng"
    return engine, name or None


def read_text_file(path: str | Path) -> str:
    """The UTF-8 text of `path` (for `--text-file`), with one-line errors for unusable files."""
    path = Path(path)
    if not path.exists():
        raise TextToSpeechError(f"text file {path} does not exist; check the path")
    if path.is_dir():
        raise TextToSpeechError(f"{path} is a folder, not a text file; pass the path of a .txt file")
    too_long = TextToSpeechError(f"text file {path} is longer than {MAX_TEXT_CHARS} characters; split it up")
    try:
        if path.stat().st_size > MAX_TEXT_CHARS * 4:  # refused unread: a huge file given by mistake
            raise too_long
        data = path.read_bytes()
    except OSError as exc:
        raise TextToSpeechError(f"text file {path} cannot be read ({exc.strerror}); check its permissions") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TextToSpeechError(
            f"text file {path} is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise TextToSpeechError(f"text file {path} is empty; write the text to speak in it")
    if len(text.strip()) > MAX_TEXT_CHARS:
        raise too_long
    return text


def synthesize(text: str, *, voice: str | None = None, engine: str | None = None) -> Speech:
    """Speak `text` offline: 16 kHz audio, and phoneme timings where the engine gives them."""
    text = _clean_text(text)
    engine, name = _pick_engine(voice, engine)
    with tempfile.TemporaryDirectory(prefix="makeittalk-tts-") as tmp:
        folder = Path(tmp)
        if engine == "espeak-ng":
            name = name or "en"
            run = _mbrola if name.lower().startswith("mb-") else _espeak
            audio, phones = run(text, name, folder)
        elif engine == "flite":
            audio, phones, name = _flite(text, name, folder)
        else:
            audio, phones = _festival(text, name, folder)
        try:
            loaded = load_audio(audio)
        except AudioError as exc:
            raise TextToSpeechError(f"{engine} produced unusable audio ({exc}); try another voice") from exc
    name = name or "default"
    source = f'{engine} voice {name}: "{_short(text)}"'
    if not np.any(loaded.samples):
        raise TextToSpeechError(f"{source} produced no sound; give words the voice can pronounce")
    waveform = Waveform(samples=loaded.samples, source=source)
    return Speech(waveform=waveform, engine=engine, voice=name,
                  phones=None if phones is None else _tile(phones, waveform.seconds))


def _pick_engine(voice: str | None, engine: str | None) -> tuple[str, str | None]:
    voice_engine, name = parse_voice(voice)
    if engine is not None:
        wanted = _ALIASES.get(engine.strip().lower())
        if wanted is None:
            raise TextToSpeechError(f"unknown speech engine {engine!r}; use one of {', '.join(ENGINES)}")
        if voice_engine not in (None, wanted):
            raise TextToSpeechError(f"voice {voice!r} belongs to {voice_engine}, not {wanted}; drop one of them")
        voice_engine = wanted
    if voice_engine is None:
        installed = available_engines()
        if not installed:
            raise TextToSpeechError(
                "no offline speech engine is installed; install one with: sudo apt-get install espeak-ng"
            )
        voice_engine = installed[0]
    elif shutil.which(_PROGRAMS[voice_engine]) is None:
        raise TextToSpeechError(f"the {voice_engine} speech engine is not installed; "
                                f"install it with: sudo apt-get install {_PACKAGES[voice_engine]}")
    if name is not None and name.startswith("-"):  # names go on command lines: never an option
        raise _unknown_voice(voice_engine, name)
    return voice_engine, name


def _clean_text(text: str) -> str:
    if not isinstance(text, str):
        raise TextToSpeechError(f"the text to speak must be a string, not {type(text).__name__}")
    # NUL would end the C string early; other control characters are read out by some engines.
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text).strip()
    if not text:
        raise TextToSpeechError('the text to speak is empty; give some words, e.g. --text "Hello there"')
    if len(text) > MAX_TEXT_CHARS:
        raise TextToSpeechError(f"the text to speak is {len(text)} characters long; "
                                f"the limit is {MAX_TEXT_CHARS}, split it up")
    return text


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split()).replace('"', "'")
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _unknown_voice(engine: str, name: str, known: list[str] | None = None) -> TextToSpeechError:
    have = f" (it has: {', '.join(known)})" if known else ""
    return TextToSpeechError(f"{engine} has no voice {name!r}{have}; list the voices with: {_LIST_VOICES[engine]}")


def _run(cmd: list[str], engine: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise TextToSpeechError(f"{engine} ran over {TIMEOUT_S:g} s and was stopped; give shorter text") from None
    except OSError as exc:
        raise TextToSpeechError(f"could not run {cmd[0]} ({exc.strerror}); reinstall {_PACKAGES[engine]}") from exc


def _failed(engine: str, proc: subprocess.CompletedProcess) -> TextToSpeechError:
    lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    detail = lines[-1] if lines else f"exit status {proc.returncode}"
    return TextToSpeechError(f"{engine} failed to speak the text ({detail}); try another voice or simpler text")


def _tile(phones: list[Phone], seconds: float) -> tuple[Phone, ...]:
    """Clamp to the audio, drop empty phones and fill gaps with pauses, so the phones cover the
    audio exactly: animation frames are looked up in them."""
    out: list[Phone] = []
    cursor = 0.0
    for ph in phones:
        start, end = max(ph.start, cursor), min(ph.end, seconds)
        if end - start <= 1e-9:
            continue
        if start - cursor > 1e-3:
            out.append(Phone("_", cursor, start))
            cursor = start
        out.append(Phone(ph.symbol, cursor, end))  # sub-millisecond gaps are rounding: closed
        cursor = end
    if seconds - cursor > 1e-3:
        out.append(Phone("_", cursor, seconds))
    elif out:  # within resampling rounding of the end
        out[-1] = Phone(out[-1].symbol, out[-1].start, seconds)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# espeak-ng


class _EspeakLibrary:
    """libespeak-ng through ctypes (speak_lib.h). The library has global state and one callback,
    so there is one instance per process and each synthesis holds its lock."""

    def __init__(self, lib) -> None:
        import ctypes as C

        class _Id(C.Union):
            _fields_ = [("number", C.c_int), ("name", C.c_char_p), ("string", C.c_char * 8)]

        class _Voice(C.Structure):
            _fields_ = [("name", C.c_char_p), ("languages", C.c_char_p), ("identifier", C.c_char_p),
                        ("gender", C.c_ubyte), ("age", C.c_ubyte), ("variant", C.c_ubyte), ("xx1", C.c_ubyte),
                        ("score", C.c_int), ("spare", C.c_void_p)]

        class _Event(C.Structure):
            _fields_ = [("type", C.c_int), ("unique_identifier", C.c_uint), ("text_position", C.c_int),
                        ("length", C.c_int), ("audio_position", C.c_int), ("sample", C.c_int),
                        ("user_data", C.c_void_p), ("id", _Id)]

        callback = C.CFUNCTYPE(C.c_int, C.POINTER(C.c_short), C.c_int, C.POINTER(_Event))
        lib.espeak_Initialize.argtypes = [C.c_int, C.c_int, C.c_char_p, C.c_int]
        lib.espeak_SetSynthCallback.argtypes = [callback]
        lib.espeak_SetVoiceByName.argtypes = [C.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [C.POINTER(_Voice)]
        self._voice_type, self._byref = _Voice, C.byref
        lib.espeak_SetParameter.argtypes = [C.c_int, C.c_int, C.c_int]
        lib.espeak_Synth.argtypes = [C.c_char_p, C.c_size_t, C.c_uint, C.c_int, C.c_uint, C.c_uint,
                                     C.c_void_p, C.c_void_p]
        self.lock = threading.Lock()
        self._lib = lib
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        # AUDIO_OUTPUT_SYNCHRONOUS (2), PHONEME_EVENTS (0x1) | DONT_EXIT (0x8000): without the
        # latter a missing data folder makes the library call exit() on our process.
        self.sample_rate = int(lib.espeak_Initialize(2, 0, None, 0x0001 | 0x8000))
        if self.sample_rate <= 0:
            raise OSError("espeak_Initialize failed")
        self._callback = callback(self._collect)  # referenced here: the library keeps only a pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, events) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.int16))
        i = 0
        while events and events[i].type != 0:  # espeakEVENT_LIST_TERMINATED ends the list
            if events[i].type == 7:  # espeakEVENT_PHONEME
                ev = events[i]
                symbol = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append((ev.sample, ev.audio_position, symbol))
            i += 1
        return 0

    def synth(self, text: str, voice: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """Samples at `sample_rate` and (sample index, mnemonic) for each phoneme event."""
        with self.lock:
            name = voice.encode("utf-8")
            # As the command line does: a voice name first, then a language ("zh" picks cmn).
            if self._lib.espeak_SetVoiceByName(name) != 0 and \
                    self._lib.espeak_SetVoiceByProperties(self._byref(self._voice_type(languages=name))) != 0:
                raise _unknown_voice("espeak-ng", voice)
            # A voice's "speed" (ru: 95 %) outlives a switch to a voice without one until the rate
            # is set again: rate, volume, pitch, range and word gap as a fresh command line has them.
            for parameter, value in ((1, 175), (2, 100), (3, 50), (4, 50), (7, 0)):
                self._lib.espeak_SetParameter(parameter, value, 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            # POS_CHARACTER (1); espeakCHARS_UTF8 | espeakENDPAUSE, and no espeakPHONEMES or
            # espeakSSML: "[[...]]" and "<...>" in the user's text are spoken as text.
            status = self._lib.espeak_Synth(data, len(data), 0, 1, 0, 0x1 | 0x1000, None, None)
            chunks, events, self._chunks, self._events = self._chunks, self._events, [], []
        if status != 0:
            raise TextToSpeechError(f"espeak-ng failed to speak the text (error {status}); try simpler text")
        marks = []
        for sample, ms, symbol in events:
            # `sample` is the exact position; `audio_position` (whole ms) is the documented one.
            exact = abs(sample * 1000.0 / self.sample_rate - ms) <= 2.0
            marks.append((sample if exact else round(ms * self.sample_rate / 1000.0), symbol))
        return (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)), marks


_LIBRARY: list[_EspeakLibrary | None] = []  # empty until loading was tried
_LIBRARY_LOCK = threading.Lock()


def _espeak_library() -> _EspeakLibrary | None:
    """The process-wide espeak-ng library, or None when it cannot be loaded (CLI fallback)."""
    with _LIBRARY_LOCK:
        if not _LIBRARY:
            import ctypes
            import ctypes.util

            loaded = None
            for name in filter(None, (ctypes.util.find_library("espeak-ng"), "libespeak-ng.so.1")):
                try:
                    loaded = _EspeakLibrary(ctypes.CDLL(name))
                    break
                except (OSError, AttributeError):
                    continue
            _LIBRARY.append(loaded)
        return _LIBRARY[0]


def _espeak(text: str, voice: str, folder: Path) -> tuple[object, list[Phone] | None]:
    library = _espeak_library()
    if library is None:
        return _espeak_cli(text, voice, ["-w", str(folder / "speech.wav")], folder / "speech.wav"), None
    samples, marks = library.synth(text, voice)
    if samples.size == 0:
        raise TextToSpeechError(f'espeak-ng voice {voice} produced no sound for "{_short(text)}"; give other text')
    rate = library.sample_rate
    bounds = [int(b) for b in np.maximum.accumulate([min(max(s, 0), samples.size) for s, _ in marks] or [0])]
    bounds.append(samples.size)
    symbols = [m for _, m in marks]
    silent = np.abs(samples.astype(np.int32)) <= 1
    for i in range(1, len(symbols)):
        # espeak writes a stop's closure silence *before* the stop's phoneme event, which would
        # count it as the end of the previous phone (the vowel of "ma|p"); it belongs to the stop.
        if Phone(symbols[i - 1], 0, 0).kind == "pause" or Phone(symbols[i], 0, 0).kind in ("vowel", "pause"):
            continue
        tail = silent[bounds[i - 1] : bounds[i]]
        if tail.size and not tail.all():
            run = int(np.argmin(tail[::-1]))  # trailing silent samples
            if run >= 0.010 * rate:
                bounds[i] -= run
    phones = [Phone(s, bounds[i] / rate, bounds[i + 1] / rate) for i, s in enumerate(symbols)]
    return (samples, rate), phones


def _espeak_cli(text: str, voice: str, args: list[str], output: Path) -> Path:
    # The command line always reads "[[...]]" as phoneme input; the library call does not.
    data = text.replace("[[", "[ [").encode("utf-8")
    proc = _run(["espeak-ng", "-b", "1", "-v", voice, *args, "--stdin"], "espeak-ng", data)
    if proc.returncode != 0 or not output.exists():
        raise _espeak_error(voice, proc)
    return output


def _espeak_error(voice: str, proc: subprocess.CompletedProcess) -> TextToSpeechError:
    err = proc.stderr.decode("utf-8", "replace")
    if "mbrola" in err.lower():
        found = re.search(r"MBROLA voice file '([^']+)'", err)
        package = f"mbrola-{found.group(1) if found else voice.lower()[3:]}"
        need = f"mbrola {package}" if "executable was not found" in err else package
        return TextToSpeechError(f"mbrola voice {voice} is not installed; install it with: sudo apt-get install {need}")
    if "voice does not exist" in err:
        return TextToSpeechError(f"espeak-ng has no voice {voice!r}; list the voices with: "
                                 f"espeak-ng --voices (mbrola ones: espeak-ng --voices=mb)")
    return _failed("espeak-ng", proc)


def _mbrola(text: str, voice: str, folder: Path) -> tuple[Path, list[Phone]]:
    """An mbrola voice through espeak-ng: audio from `-w`, timings from the `.pho` espeak feeds
    mbrola (the same phoneme list both times; mbrola renders each duration as given)."""
    pho = _espeak_cli(text, voice, ["-q", "--pho", f"--phonout={folder / 'speech.pho'}"], folder / "speech.pho")
    out = _espeak_cli(text, voice, ["-w", str(folder / "speech.wav")], folder / "speech.wav")
    return out, _parse_pho(pho.read_text("utf-8", "replace"))


def _parse_pho(text: str) -> list[Phone]:
    """mbrola .pho lines are "phoneme duration_ms [position pitch]..."; ';' comments, '#' flushes."""
    phones, t = [], 0.0
    for fields in (line.split() for line in text.splitlines()):
        if len(fields) < 2 or fields[0].startswith((";", "#")):
            continue
        try:
            ms = float(fields[1])
        except ValueError:
            continue
        phones.append(Phone(fields[0], t, t + ms / 1000.0))
        t += ms / 1000.0
    return phones


# --------------------------------------------------------------------------------------------
# flite and festival


def _flite_voices() -> list[str]:
    listing = _run(["flite", "-lv"], "flite").stdout.decode("utf-8", "replace")  # "Voices available: kal slt"
    return listing.split(":", 1)[1].split() if ":" in listing else []


def _flite(text: str, voice: str | None, folder: Path) -> tuple[Path, list[Phone] | None, str]:
    if voice and ("/" in voice or voice.endswith(".flitevox")):
        if "://" not in voice and not Path(voice).is_file():
            raise TextToSpeechError(f"flite voice file {voice} does not exist; check the path")
    else:
        known = _flite_voices()
        if voice is None:
            voice = "slt" if "slt" in known or not known else known[0]  # slt: the clearest built-in
        elif known and voice not in known:  # flite would silently speak with its default voice
            raise _unknown_voice("flite", voice, known)
    source, out = folder / "text.txt", folder / "speech.wav"
    # -f keeps the text out of argument parsing; without a final newline flite drops the last
    # sentence of a multi-sentence text.
    source.write_text(text + "\n", encoding="utf-8")
    proc = _run(["flite", "-voice", voice, "-psdur", "-f", str(source), "-o", str(out)], "flite")
    if proc.returncode != 0 or not out.exists():
        raise _failed("flite", proc)
    # -psdur prints a line per utterance, "phone:end_time ...", each line starting again at 0 s.
    phones: list[Phone] = []
    offset = 0.0
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        start = 0.0
        for symbol, _, end in (item.rpartition(":") for item in line.split()):
            try:
                phones.append(Phone(symbol, offset + start, offset + float(end)))
            except ValueError:
                continue
            start = float(end)
        offset += start
    return out, phones or None, voice


def _festival(text: str, voice: str | None, folder: Path) -> tuple[Path, None]:
    if voice is not None and not re.fullmatch(r"[A-Za-z0-9_]+", voice):
        raise _unknown_voice("festival", voice)  # pasted into Scheme below: a plain symbol only
    source, out = folder / "text.txt", folder / "speech.wav"
    source.write_text(text + "\n", encoding="utf-8")
    cmd = ["text2wave", "-o", str(out)] + (["-eval", f"(voice_{voice})"] if voice else []) + [str(source)]
    proc = _run(cmd, "festival")
    if voice and "unbound variable" in proc.stderr.decode("utf-8", "replace"):
        raise _unknown_voice("festival", voice)
    if proc.returncode != 0 or not out.exists() or out.stat().st_size <= 44:  # 44: a bare wav header
        raise _failed("festival", proc)
    return out, None

"""Speech synthesised with eSpeak NG, for built-in speech data with no download.

The PyPI package `espeakng-loader` ships the eSpeak NG library and its voice
data; this module drives it through ctypes. A voice is an accent (a language
name such as "en-us" or "en-gb-scotland") and a variant (a voice quality file
such as "m3", "f2" or "croak"); rate and pitch vary on top of both.

eSpeak fails quietly in two ways, and both would silently mislabel data:
`espeak_SetVoiceByName` returns an error code for an unknown name and keeps
the previous voice, and an unknown variant falls back to the base voice. So
every return code is checked, and variants are checked against the files in
the voice data before use.

Example:

```python
synthesizer = Synthesizer()
audio = synthesizer.speak("yes", Voice("en-us", "f2"), rate=170, pitch=60)
audio.shape  # (samples,) float32 at 16 kHz, in [-1, 1]
```
"""

import ctypes
import dataclasses
import threading
import zlib
from pathlib import Path

import numpy as np

from dlapps.errors import UserError

SAMPLE_RATE = 16000

# Values of eSpeak NG's C enums (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH = 1, 2, 3

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclasses.dataclass(frozen=True, order=True)
class Voice:
    """An eSpeak NG voice: an accent plus a voice-quality variant."""

    accent: str
    variant: str

    @property
    def name(self):
        return f"{self.accent}+{self.variant}"

    @classmethod
    def from_name(cls, name):
        """The voice named "accent+variant", as `name` spells it."""
        accent, _, variant = name.partition("+")
        return cls(accent, variant)


class Synthesizer:
    """One eSpeak NG engine in this process, returning 16 kHz float32 audio.

    eSpeak keeps global state, so there is one engine per process; this class
    serialises calls to it with a lock.
    """

    _lock = threading.Lock()
    _libc = ctypes.CDLL(None)
    _library = None
    _native_rate = None
    _chunks = []

    def __init__(self):
        cls = type(self)
        with cls._lock:
            if cls._library is None:
                cls._library, cls._native_rate = _load_engine(cls._chunks)
        self.data_path = Path(_espeak_loader().get_data_path())

    def variants(self):
        """Names of the voice-quality variants in the installed voice data."""
        return sorted(p.name for p in (self.data_path / "voices" / "!v").iterdir() if p.is_file())

    def reproducible_variants(self):
        """The variants whose audio is the same on every run, for generated datasets.

        Variants that add breath noise (whisper, f2, victor, ...) are left out:
        with them, eSpeak NG's output changes from one process to the next
        for the same request (measured on 9 of the 12; a likely read of
        uninitialised voice data), which would make a seeded dataset differ
        between machines.
        """
        return [name for name in self.variants() if not self._adds_breath(name)]

    def _adds_breath(self, variant):
        for line in (self.data_path / "voices" / "!v" / variant).read_text("latin-1").splitlines():
            words = line.split("//")[0].split()
            if words[:1] == ["breath"] and any(w != "0" for w in words[1:]):
                return True
        return False

    def check_voice(self, voice):
        """Raises `UserError` unless both parts of `voice` exist."""
        if voice.variant not in self.variants():
            raise UserError(
                f"eSpeak NG has no voice variant {voice.variant!r}; "
                f"some that exist: {', '.join(self.variants()[:12])}"
            )
        with self._lock:
            self._set_voice(voice)

    def speak(self, text, voice, rate=175, pitch=50):
        """Synthesises `text` and returns it as float32 samples at 16 kHz.

        Args:
            text: what to say.
            voice: a `Voice`.
            rate: speed in words per minute (80-450).
            pitch: base pitch, 0-100.

        Raises:
            UserError: an unknown voice, or eSpeak failed.
        """
        with self._lock:
            self._set_voice(voice)
            library = self._library
            for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_VOLUME, 100)):
                _check(library.espeak_SetParameter(parameter, int(value), 0), "SetParameter")
            # eSpeak's noise sources draw from the C library's rand(): seed it from
            # the request, so this clip's noise does not depend on earlier clips.
            self._libc.srand(zlib.crc32(f"{text}|{voice.name}|{rate}|{pitch}".encode()))
            self._chunks.clear()
            encoded = text.encode("utf-8") + b"\0"
            _check(
                library.espeak_Synth(
                    encoded, len(encoded), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
                ),
                "Synth",
            )
            _check(library.espeak_Synchronize(), "Synchronize")
            native = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return resample(native.astype("float32") / 32768.0, self._native_rate, SAMPLE_RATE)

    def _set_voice(self, voice):
        variant_file = self.data_path / "voices" / "!v" / voice.variant
        if not variant_file.is_file():
            raise UserError(f"eSpeak NG has no voice variant {voice.variant!r}")
        code = self._library.espeak_SetVoiceByName(voice.name.encode("utf-8"))
        if code != 0:
            raise UserError(
                f"eSpeak NG has no voice {voice.name!r} (error {code}): "
                "use an accent such as en, en-us or en-gb-scotland"
            )


def _espeak_loader():
    try:
        import espeakng_loader
    except ImportError:
        raise UserError(
            "built-in speech data needs the espeakng-loader package: pip install espeakng-loader"
        ) from None
    return espeakng_loader


def _load_engine(chunks):
    loader = _espeak_loader()
    library = ctypes.CDLL(loader.get_library_path())
    library.espeak_Initialize.restype = ctypes.c_int
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    library.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    native_rate = library.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, loader.get_data_path().encode("utf-8"), 0
    )
    if native_rate <= 0:
        raise UserError(f"eSpeak NG failed to start (error {native_rate})")

    def collect(samples, count, events):
        if count > 0:
            chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    # Keep a reference: ctypes callbacks are freed with their Python object.
    library.dlapps_callback = _CALLBACK(collect)
    library.espeak_SetSynthCallback(library.dlapps_callback)
    return library, native_rate


def _check(code, name):
    if code != 0:
        raise UserError(f"eSpeak NG espeak_{name} failed with error {code}")


def resample(audio, rate, target_rate=SAMPLE_RATE):
    """Resamples 1-D `audio` from `rate` to `target_rate` (polyphase, anti-aliased)."""
    if rate == target_rate:
        return audio.astype("float32")
    from math import gcd

    from scipy.signal import resample_poly

    divisor = gcd(int(rate), int(target_rate))
    return resample_poly(audio, target_rate // divisor, rate // divisor).astype("float32")

"""The speech application: voice commands (keyword spotting) from raw audio.

Example:

>>> from dlapps import speech
>>> data = speech.load_keyword_data("synthetic")
>>> model = speech.build_keyword_spotter(len(data.labels))
"""

from dlapps.speech.audio import fit_length, read_wav, write_wav
from dlapps.speech.keyword_data import (
    KeywordData,
    add_noise,
    load_keyword_data,
    load_keyword_folder,
    load_synthetic_keywords,
    to_dataset,
)
from dlapps.speech.keyword_spotter import build_keyword_spotter, ds_cnn
from dlapps.speech.kws_app import KeywordSpottingApp
from dlapps.speech.log_mel_spectrogram import LogMelSpectrogram
from dlapps.speech.synthesizer import SAMPLE_RATE, Synthesizer, Voice

__all__ = [
    "SAMPLE_RATE",
    "KeywordData",
    "KeywordSpottingApp",
    "LogMelSpectrogram",
    "Synthesizer",
    "Voice",
    "add_noise",
    "build_keyword_spotter",
    "ds_cnn",
    "fit_length",
    "load_keyword_data",
    "load_keyword_folder",
    "load_synthetic_keywords",
    "read_wav",
    "to_dataset",
    "write_wav",
]

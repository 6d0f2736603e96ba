"""The translation application: sequence-to-sequence models, strings in, strings out.

Example:

>>> from dlapps import translation
>>> pairs = translation.load_parallel_data("numbers")
>>> data = translation.prepare_data(pairs)
>>> model = translation.build_transformer(
...     data.source_tokenizer.vocabulary_size, data.target_tokenizer.vocabulary_size,
...     source_length=data.source_length, target_length=data.target_length)
"""

from dlapps.translation.decoding import beam_search, greedy_decode
from dlapps.translation.losses import MaskedCrossEntropy, masked_accuracy
from dlapps.translation.parallel_data import ParallelData, load_parallel_data, load_tsv
from dlapps.translation.positional_embedding import PositionalEmbedding
from dlapps.translation.seq2seq import build_gru_translator, build_transformer, build_translator
from dlapps.translation.tokenizer import (
    SubwordTokenizer,
    build_vocabulary,
    learn_wordpiece_vocabulary,
)
from dlapps.translation.transformer_decoder import TransformerDecoder
from dlapps.translation.transformer_encoder import TransformerEncoder
from dlapps.translation.translation_app import (
    TranslationApp,
    TranslationData,
    make_datasets,
    prepare_data,
)
from dlapps.translation.translation_metrics import translation_scores

__all__ = [
    "MaskedCrossEntropy",
    "ParallelData",
    "PositionalEmbedding",
    "SubwordTokenizer",
    "TransformerDecoder",
    "TransformerEncoder",
    "TranslationApp",
    "TranslationData",
    "beam_search",
    "build_gru_translator",
    "build_transformer",
    "build_translator",
    "build_vocabulary",
    "greedy_decode",
    "learn_wordpiece_vocabulary",
    "load_parallel_data",
    "load_tsv",
    "make_datasets",
    "masked_accuracy",
    "prepare_data",
    "translation_scores",
]

"""Translation and summarization: sequence-to-sequence models, strings in, strings out.

Summarization (`SummarizationApp`) shares translation's tokenizer,
Transformer blocks, decoders and exports: an extractive sentence scorer
(`build_extractive_scorer`) and an abstractive Transformer with a copy head
(`PointerGenerator`).

Example:

>>> from dlapps import translation
>>> pairs = translation.load_parallel_data("numbers")
>>> data = translation.prepare_data(pairs)
>>> model = translation.build_transformer(
...     data.source_tokenizer.vocabulary_size, data.target_tokenizer.vocabulary_size,
...     source_length=data.source_length, target_length=data.target_length)
"""

from dlapps.translation.copy_decoder import PointerGenerator
from dlapps.translation.decoding import beam_search, block_repeated_ngrams, greedy_decode
from dlapps.translation.document_data import DocumentData, load_documents
from dlapps.translation.extractive_scorer import (
    MaskedBinaryCrossEntropy,
    build_extractive_scorer,
    select_sentences,
)
from dlapps.translation.losses import MaskedCrossEntropy, masked_accuracy
from dlapps.translation.multi_head_attention import MultiHeadAttention
from dlapps.translation.parallel_data import ParallelData, load_parallel_data, load_tsv
from dlapps.translation.positional_embedding import PositionalEmbedding
from dlapps.translation.rouge import oracle_labels, rouge_scores, split_sentences
from dlapps.translation.seq2seq import build_gru_translator, build_transformer, build_translator
from dlapps.translation.summarization_app import (
    SummarizationApp,
    SummarizationData,
    extractive_datasets,
)
from dlapps.translation.summarization_app import prepare_data as prepare_documents
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
    "DocumentData",
    "MaskedBinaryCrossEntropy",
    "PointerGenerator",
    "SummarizationApp",
    "SummarizationData",
    "block_repeated_ngrams",
    "build_extractive_scorer",
    "extractive_datasets",
    "load_documents",
    "oracle_labels",
    "prepare_documents",
    "rouge_scores",
    "select_sentences",
    "split_sentences",
    "MaskedCrossEntropy",
    "MultiHeadAttention",
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

"""Real English-Spanish sentence pairs, offline: the gettext catalogs installed on this machine.

Free-software projects (git, GLib, coreutils, apt, GnuPG, ...) ship their
user-facing messages translated by people into Spanish, as compiled
`.mo` catalogs under `/usr/share/locale/es/LC_MESSAGES/`. Each catalog maps
an English message to its Spanish translation, so together they are a
parallel corpus of natural, human-translated sentences with an open
vocabulary (software terms, but ordinary grammar) and lengths from 3 to 25
words. Where several projects translate the same English message
differently, every translation is kept: the test scores against all of
them (multi-reference BLEU), as Tatoeba's several translations of one
English sentence would be.

Messages that are not sentences are left out: format strings (`%s`,
`{name}`, `$1`), multi-line help texts, command synopses and messages
whose translation keeps half of the English words (untranslated).

    python benchmarks/gettext_pairs.py pairs.tsv   # English<TAB>Spanish<TAB>catalog
"""

import gettext
import glob
import re
import sys
from pathlib import Path

CATALOGS = "/usr/share/locale/es/LC_MESSAGES/*.mo"
NOT_A_SENTENCE = re.compile(r"[%{}$<>\[\]|=_\\/@#]|--|\.\.\.|\w+\(|^\W|\s\s|\t")


def gettext_pairs(pattern=CATALOGS, min_words=3, max_words=25):
    """`[(english, spanish, catalog)]`, sorted, every distinct pair once."""
    pairs = set()
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path, "rb") as file:
                catalog = gettext.GNUTranslations(file)._catalog
        except (OSError, UnicodeDecodeError):  # not a readable catalog
            continue
        for english, spanish in catalog.items():
            if not isinstance(english, str) or not isinstance(spanish, str):
                continue  # plural forms
            english, spanish = english.strip(), spanish.strip()
            if not english or not spanish or "\x04" in english or "\n" in english + spanish:
                continue
            if NOT_A_SENTENCE.search(english) or NOT_A_SENTENCE.search(spanish):
                continue
            if not min_words <= len(english.split()) <= max_words:
                continue
            words = set(english.lower().split())
            kept = sum(word in words for word in spanish.lower().split())
            if kept > len(spanish.split()) / 2:
                continue  # left untranslated
            pairs.add((english, spanish, Path(path).stem))
    return sorted(pairs)


def write_tsv(path, pattern=CATALOGS):
    """Writes the pairs as `English<TAB>Spanish<TAB>catalog`; returns how many."""
    pairs = gettext_pairs(pattern)
    Path(path).write_text("".join(f"{e}\t{s}\t{c}\n" for e, s, c in pairs), encoding="utf-8")
    return len(pairs)


if __name__ == "__main__":
    print(write_tsv(sys.argv[1]), "pairs")

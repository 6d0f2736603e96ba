"""Real English texts with human-written one-line summaries, offline: the manual pages.

Every manual page installed on this machine (`/usr/share/man/man[1-8]`) has
a NAME line written by its authors, `ls \\- list directory contents`, and a
DESCRIPTION section of ordinary technical prose. The description is the
article, the NAME line's summary (as a sentence) the reference. This is not
news: the summaries are short and written in their own words (rarely a
sentence of the text), and a description's first sentence often restates
them, so Lead-1 is a strong baseline. It is real text with real summaries,
written in the BBC News Summary layout (`articles/<id>.txt`,
`summaries/<id>.txt`), which `dlapps train summarization --data DIR` reads.

    python benchmarks/manpage_articles.py manpages/ 2000
"""

import gzip
import re
import sys
from pathlib import Path

import numpy as np

PAGES = "/usr/share/man/man[1-8]/*.gz"
PARAGRAPH = re.compile(r"^\.(PP|P|LP|sp|TP|IP|HP|br|RS|RE|in|nf|fi|ti)\b")
FONT_MACRO = re.compile(r"^\.(B|I|BR|RB|IR|RI|BI|IB|SM|SB)\s+(.*)$")
ESCAPES = [
    (re.compile(r"\\f(\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r"\\s[-+]?\d"), ""),
    (re.compile(r"\\\(aq"), "'"),
    (re.compile(r"\\\((lq|rq|dq)"), '"'),
    (re.compile(r"\\\((em|en)"), "-"),
    (re.compile(r"\\\*?\(..|\\\*?\[[^\]]*\]|\\\*."), ""),
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\[&|^ ]"), " "),
    (re.compile(r"\\."), ""),
]


def _plain(line):
    for pattern, replacement in ESCAPES:
        line = pattern.sub(replacement, line)
    return re.sub(r"\s+", " ", line.replace('"', "")).strip()


def _sections(text):
    sections, name = {}, None
    for line in text.splitlines():
        heading = re.match(r'^\.SH\s+"?([^"]*)"?', line)
        if heading:
            name = heading.group(1).strip().upper()
            sections.setdefault(name, [])
        elif name is not None:
            sections[name].append(line)
    return sections


def _paragraphs(lines):
    paragraphs, current = [], []
    for line in lines:
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if PARAGRAPH.match(line):
            paragraphs.append(" ".join(current))
            current = []
            continue
        font = FONT_MACRO.match(line)
        if font:
            line = font.group(2)
        elif line.startswith((".", "'")):
            continue
        current.append(_plain(line))
    paragraphs.append(" ".join(current))
    return [re.sub(r"\s+", " ", p).strip() for p in paragraphs if p.strip()]


def page_pair(path):
    """`(article, summary)` of a manual page, or None if it has no usable NAME and DESCRIPTION."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as file:
            text = file.read()
    except (OSError, EOFError):
        return None
    sections = _sections(text)
    name = " ".join(_paragraphs(sections.get("NAME", [])))
    if " - " not in name:
        return None
    summary = name.split(" - ", 1)[1].strip().rstrip(".")
    paragraphs = [p for p in _paragraphs(sections.get("DESCRIPTION", [])) if len(p.split()) > 3]
    article = "\n\n".join(paragraphs)
    if not 3 <= len(summary.split()) <= 20 or not 80 <= len(article.split()) <= 1500:
        return None
    if not article.isascii() or not summary.isascii():
        return None
    return article, summary[0].upper() + summary[1:] + "."


def write_folder(directory, count=2000, seed=0):
    """Writes `count` pages (a seeded sample of those usable) as articles/ and summaries/."""
    paths = sorted(Path("/").glob(PAGES.lstrip("/")))
    order = np.random.default_rng(seed).permutation(len(paths))
    directory = Path(directory)
    (directory / "articles").mkdir(parents=True, exist_ok=True)
    (directory / "summaries").mkdir(parents=True, exist_ok=True)
    seen, written = set(), 0
    for index in order:
        pair = page_pair(paths[index])
        if pair is None or pair[0] in seen:
            continue
        seen.add(pair[0])
        name = f"{written:05d}.txt"
        (directory / "articles" / name).write_text(pair[0] + "\n", encoding="utf-8")
        (directory / "summaries" / name).write_text(pair[1] + "\n", encoding="utf-8")
        written += 1
        if written == count:
            break
    return written


if __name__ == "__main__":
    print(write_folder(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000))

"""Translation quality: BLEU, chrF and exact match (sacrebleu), and a figure of examples."""

import numpy as np

from dlapps import report


def translation_scores(hypotheses, references, kinds=()):
    """Corpus BLEU and chrF (0-100, sacrebleu's defaults) and exact match (0-1).

    Args:
        hypotheses: list of strings.
        references: per hypothesis, one reference string or a list of every
            reference translation of that source sentence (Tatoeba has
            several for many sentences): BLEU counts an n-gram as right if
            any reference has it, chrF takes the best reference, and an
            exact match is a match with any of them.
        kinds: optional label per sentence (e.g. "numbers", "dates"); each
            kind is also scored on its own, as `<kind>_bleu` and so on.

    Example:

    >>> translation_scores(["veintiuno"], ["veintiuno"])
    {'bleu': 100.0..., 'chrf': 100.0, 'exact_match': 1.0}
    >>> translation_scores(["Tengo hambre."], [["Estoy hambriento.", "Tengo hambre."]])["bleu"]
    100.0...
    """
    import sacrebleu

    hypotheses = list(hypotheses)
    references = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    # sacrebleu takes reference streams; a sentence with fewer references pads with None.
    most = max((len(r) for r in references), default=1)
    streams = [[r[i] if i < len(r) else None for r in references] for i in range(most)]
    scores = {
        "bleu": float(sacrebleu.corpus_bleu(hypotheses, streams).score),
        "chrf": float(sacrebleu.corpus_chrf(hypotheses, streams).score),
        "exact_match": float(
            np.mean([h in r for h, r in zip(hypotheses, references, strict=True)])
        ),
    }
    kinds = list(kinds)
    for kind in sorted(set(kinds)) if len(set(kinds)) > 1 else ():
        chosen = [i for i, k in enumerate(kinds) if k == kind]
        for name, value in translation_scores(
            [hypotheses[i] for i in chosen], [references[i] for i in chosen]
        ).items():
            scores[f"{kind}_{name}"] = value
    return scores


def plot_translations(sources, references, hypotheses, path):
    """Writes a table of test sentences: source, reference(s), translation (red when none matches).

    `references` holds a string or a list of references per sentence; the
    figure shows the first two.
    """
    references = [[r] if isinstance(r, str) else list(r) for r in references]
    pyplot = report.pyplot()
    rows = len(sources)
    lines = 4 * rows  # source, reference, translation, a blank line
    figure, axis = pyplot.subplots(figsize=(12, 0.8 + 0.22 * lines))
    axis.axis("off")
    axis.set_ylim(0, lines)
    examples = zip(sources, references, hypotheses, strict=True)
    for row, (source, reference, hypothesis) in enumerate(examples):
        top = lines - 4 * row - 0.5
        axis.text(0.0, top, source, fontsize=10, va="center")
        shown = " | ".join(reference[:2]) + (" | ..." if len(reference) > 2 else "")
        axis.text(0.03, top - 1, f"reference:    {shown}", fontsize=10, va="center", color="gray")
        wrong = hypothesis not in reference
        axis.text(
            0.03,
            top - 2,
            f"translation: {hypothesis}",
            fontsize=10,
            va="center",
            color="red" if wrong else "black",
        )
    mistakes = sum(h not in r for h, r in zip(hypotheses, references, strict=True))
    axis.set_title(f"Unseen test sentences ({mistakes} of {rows} match no reference, in red)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path

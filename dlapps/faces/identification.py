"""Open-set identification on unseen people: enrol k photos of some, query with the rest."""

import numpy as np

from dlapps import report
from dlapps.faces.gallery import templates


def open_set_identification(embeddings, people, threshold, photos_per_person=3, seed=0):
    """Rank-1 accuracy of enrolled people and the rejection rate of impostors.

    Half of the people (chosen by `seed`) are enrolled with `photos_per_person`
    photos each (their templates form the gallery); their other photos are
    queries that should find them, and every photo of the other half is an
    impostor that should be rejected (best similarity below `threshold`).

    Returns:
        `(metrics, example)`: metrics `rank1` (nearest template is the right
        person), `rank1_accepted` (right and above the threshold),
        `impostor_rejection`; and the indices for a figure.
    """
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(people))
    enrolled, impostors = ids[: len(ids) // 2], ids[len(ids) // 2 :]
    enrol_index, query_index = [], []
    for person in enrolled:
        photos = rng.permutation(np.flatnonzero(people == person))
        enrol_index.extend(photos[:photos_per_person])
        query_index.extend(photos[photos_per_person:])
    enrol_index, query_index = np.asarray(enrol_index, int), np.asarray(query_index, int)
    impostor_index = np.flatnonzero(np.isin(people, impostors))
    gallery_ids, gallery = templates(embeddings[enrol_index], people[enrol_index])
    query_sims = embeddings[query_index] @ gallery.T
    best = gallery_ids[np.argmax(query_sims, axis=1)]
    correct = best == people[query_index]
    accepted = query_sims.max(axis=1) >= threshold
    impostor_best = (embeddings[impostor_index] @ gallery.T).max(axis=1)
    metrics = {
        "rank1": float(np.mean(correct)) if len(correct) else float("nan"),
        "rank1_accepted": float(np.mean(correct & accepted)) if len(correct) else float("nan"),
        "impostor_rejection": float(np.mean(impostor_best < threshold)),
        "enrolled_people": len(enrolled),
        "photos_per_person": photos_per_person,
    }
    example = {
        "queries": query_index,
        "matches": [np.flatnonzero(people[enrol_index] == p)[0] for p in best],
        "enrol_index": enrol_index,
        "similarities": query_sims.max(axis=1),
        "correct": correct,
        "accepted": accepted,
    }
    return metrics, example


def impostor_similarities(embeddings, people, photos_per_person=3, seed=0):
    """Similarities of photos to the templates of other people: what a gallery compares.

    Each person's template is made from `photos_per_person` of their photos
    (one fewer when they have no more, so one is left to query with); each
    of their other photos is compared with every other person's template.

    Returns:
        `(impostor, genuine)`: 1-d arrays of photo-to-template cosines with
        other people's and with the photo's own person's template.

    Example:

    >>> impostor, genuine = impostor_similarities(embeddings, people)
    >>> threshold = np.quantile(impostor, 1 - 1e-3)
    """
    rng = np.random.default_rng(seed)
    enrol_index, query_index = [], []
    for person in np.unique(people):
        photos = rng.permutation(np.flatnonzero(people == person))
        count = min(photos_per_person, len(photos) - 1)
        enrol_index.extend(photos[: max(1, count)])
        query_index.extend(photos[max(1, count) :])
    enrol_index, query_index = np.asarray(enrol_index, int), np.asarray(query_index, int)
    ids, gallery = templates(embeddings[enrol_index], people[enrol_index])
    similarities = embeddings[query_index] @ gallery.T
    own = people[query_index][:, None] == ids[None, :]
    return similarities[~own], similarities[own]


def plot_query_grid(images, example, path, count=8):
    """Writes query photos (top row) above their nearest enrolled photo, green if right."""
    pyplot = report.pyplot()
    chosen = np.random.default_rng(0).permutation(len(example["queries"]))[:count]
    columns = max(1, len(chosen))  # no queries: an empty grid, not an error
    figure, axes = pyplot.subplots(2, columns, figsize=(1.4 * columns, 3.2), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for column, index in enumerate(chosen):
        query = images[example["queries"][index]]
        match = images[example["enrol_index"][example["matches"][index]]]
        color = "green" if example["correct"][index] else "red"
        axes[0, column].imshow(query)
        axes[0, column].set_title(f"{example['similarities'][index]:.2f}", color=color, fontsize=8)
        axes[1, column].imshow(match)
    figure.suptitle("Queries (top) and their nearest enrolled person (unseen people)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path

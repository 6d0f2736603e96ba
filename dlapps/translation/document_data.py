"""Documents and their reference summaries: built-in reports, JSONL, TSV, a folder, or TFDS.

Every source returns a `DocumentData`: `(article, summary)` string pairs for
train, validation and test. Identical articles always land in the same
split, so no test article is seen in training.

The built-in data ("reports") needs no download: generated match reports,
weather bulletins and company results of several paragraphs, about
made-up teams, places, people and companies (most names in the test split
never occur in training). Each summary restates three salient facts, each
shorter than the sentence that holds it; the facts sit anywhere in the article among background,
historical and filler sentences that look like them (older scores, last
year's revenue), so neither the first sentences (Lead-N) nor a keyword
match finds them all:

```python
data = load_documents("reports", train_size=100, validation_size=10, test_size=10)
data.train[0][0]  # 'It was a bright afternoon for supporters in Velmora. ...'
data.train[1][0]  # 'Tarvo Rovers beat Kelmi United 3-1 at Ostrand Park. ...'
```
"""

import dataclasses
import json
from pathlib import Path

import numpy as np

from dlapps.errors import UserError

BUILT_IN = ("reports",)
TEXT_FIELDS = ("article", "summary")


@dataclasses.dataclass
class DocumentData:
    """Article/summary pairs split three ways.

    Attributes:
        train, validation, test: `(articles, summaries)`, two lists of
            strings of equal length.
        source: where the data came from, for the report.
        kinds: for the built-in data, the kind of each test document
            ("match", "weather", "results").
        skipped: what a loader could not use, by reason, for the report.
    """

    train: tuple
    validation: tuple
    test: tuple
    source: str
    kinds: list = dataclasses.field(default_factory=list)
    skipped: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        """Split sizes and the source, for the report."""
        summary = {
            "source": self.source,
            "train": len(self.train[0]),
            "validation": len(self.validation[0]),
            "test": len(self.test[0]),
        }
        if self.skipped:
            summary["skipped"] = dict(self.skipped)
        return summary


def load_documents(
    name,
    seed=0,
    train_size=6000,
    validation_size=300,
    test_size=500,
    fields=TEXT_FIELDS,
    tfds_data_dir=None,
):
    """Loads article/summary pairs.

    Args:
        name: "reports" (built in), a `.jsonl` file (one JSON object per
            line with an article and a summary field), a `.tsv` file
            (`article<TAB>summary` per line, an optional header line
            `article<TAB>summary`), a folder with `articles/<id>.txt` and
            `summaries/<id>.txt` (the BBC News Summary layout, "News
            Articles"/"Summaries" and sub-folders included), or
            "tfds:NAME" (e.g. "tfds:cnn_dailymail", "tfds:xsum").
        seed: seeds the generated documents and the file splits.
        train_size, validation_size, test_size: built-in documents per
            split. A file or folder keeps a tenth of its distinct articles
            for validation and a tenth for test (at least one each).
        fields: the JSONL field names of the article and the summary.

    Raises:
        UserError: an unknown name, a missing or malformed file (with its
            line number), too few documents to split.
    """
    if name in BUILT_IN:
        return generate_reports(seed, train_size, validation_size, test_size)
    if name.startswith("tfds:"):
        return _load_tfds(name[len("tfds:") :], tfds_data_dir)
    path = Path(name)
    if path.is_dir():
        return split_pairs(_read_folder(path), f"folder:{path}", seed)
    if path.is_file():
        if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
            return split_pairs(_read_jsonl(path, fields), f"jsonl:{path}", seed)
        return split_pairs(_read_tsv(path), f"tsv:{path}", seed)
    raise UserError(
        f"unknown summarization data {name!r}: use 'reports' (built in), a .jsonl or .tsv "
        "file, a folder with articles/ and summaries/, or tfds:NAME"
    )


def split_pairs(pairs, source, seed, held_out_fraction=0.1):
    """Splits `(article, summary)` pairs by distinct article into train/validation/test.

    Repeated articles stay together in one split (a news set often holds the
    same story twice), so no test article is in training.
    """
    articles = sorted({article for article, _ in pairs})
    if len(articles) < 3:
        raise UserError(f"{source} has {len(articles)} distinct articles: use at least 3")
    held_out = max(1, int(round(len(articles) * held_out_fraction)))
    order = np.random.default_rng(seed).permutation(len(articles))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[articles[index]] = (
            "test" if rank < held_out else "validation" if rank < 2 * held_out else "train"
        )
    splits = {"train": ([], []), "validation": ([], []), "test": ([], [])}
    for article, summary in pairs:
        texts, summaries = splits[split_of[article]]
        texts.append(article)
        summaries.append(summary)
    duplicates = len(pairs) - len(articles)
    return DocumentData(
        **splits, source=source, skipped={"repeated_articles": duplicates} if duplicates else {}
    )


def _read_text(path):
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")  # older news sets (BBC) hold a few such files


def _read_jsonl(path, fields):
    article_field, summary_field = fields
    pairs = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{path}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}, line {number}: expected a JSON object")
        values = []
        for field in (article_field, summary_field):
            value = record.get(field)
            if not isinstance(value, str) or not value.strip():
                raise UserError(
                    f"{path}, line {number}: no text in field {field!r} (fields: "
                    f"{', '.join(sorted(record)) or 'none'}); name the fields with "
                    "--article-field/--summary-field"
                )
            values.append(value.strip())
        pairs.append(tuple(values))
    return pairs


def _read_tsv(path):
    pairs = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if number == 1 and [c.strip().lower() for c in columns[:2]] == list(TEXT_FIELDS):
            continue  # a header
        if len(columns) < 2 or not columns[0].strip() or not columns[1].strip():
            raise UserError(
                f"{path}, line {number}: expected 'article<TAB>summary', got {line[:60]!r}"
            )
        pairs.append((columns[0].strip(), columns[1].strip()))
    return pairs


def _read_folder(path):
    children = {child.name.lower(): child for child in path.iterdir() if child.is_dir()}
    articles = children.get("articles") or children.get("news articles")
    summaries = children.get("summaries")
    if articles is None or summaries is None:
        raise UserError(
            f"{path} needs two folders, articles/ and summaries/, with one <id>.txt per "
            "document in each"
        )
    pairs = []
    for article_path in sorted(articles.rglob("*.txt")):
        relative = article_path.relative_to(articles)
        summary_path = summaries / relative
        if not summary_path.is_file():
            raise UserError(f"{article_path} has no summary: expected {summary_path}")
        article, summary = _read_text(article_path).strip(), _read_text(summary_path).strip()
        if not article or not summary:
            raise UserError(f"{article_path if not article else summary_path} is empty")
        pairs.append((article, summary))
    if not pairs:
        raise UserError(f"{articles} has no .txt files")
    return pairs


def _load_tfds(name, data_dir):
    from dlapps.datasets import load_tfds_splits

    datasets, _ = load_tfds_splits(name, ["train", "validation", "test"], data_dir=data_dir)

    def pairs(dataset):
        articles, summaries = [], []
        for article, summary in dataset.as_numpy_iterator():
            articles.append(article.decode("utf-8"))
            summaries.append(summary.decode("utf-8"))
        return articles, summaries

    train, validation, test = (pairs(dataset) for dataset in datasets)
    return DocumentData(train=train, validation=validation, test=test, source=f"tfds:{name}")


# ---------------------------------------------------------------- built-in reports

SYLLABLES = [
    "var",
    "ko",
    "lin",
    "tar",
    "vo",
    "mel",
    "ra",
    "bri",
    "sk",
    "an",
    "ja",
    "os",
    "tr",
    "and",
    "kel",
    "mi",
    "ve",
    "dor",
    "ul",
    "fen",
    "ga",
    "rik",
    "sol",
    "te",
    "mar",
    "ni",
    "bo",
    "zan",
    "qu",
    "el",
    "ha",
    "ru",
    "pe",
    "ly",
    "cor",
    "vin",
    "da",
    "lo",
    "so",
    "fi",
    "ne",
    "gar",
    "thu",
    "ix",
]
TEAM_WORDS = ("Rovers", "United", "Athletic", "City", "Wanderers", "Albion")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
REGIONS = ("the north", "the south", "the east coast", "the west", "the highlands", "the valleys")
CONDITIONS = (
    ("Heavy rain", "millimetres of rain"),
    ("Snow", "centimetres of snow"),
    ("Strong wind", "kilometres per hour gusts"),
)
COLOURS = ("yellow", "amber", "red")
CURRENCIES = ("euros", "dollars", "kroner", "pounds")
QUARTERS = ("first", "second", "third", "fourth")
ACTIONS = (
    "open a new factory",
    "cut costs",
    "hire more engineers",
    "expand into Asia",
    "sell its shipping unit",
    "raise prices",
)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _word(rng, low=2, high=3):
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.integers(low, high + 1))).capitalize()


def _person(rng):
    return f"{_word(rng)} {_word(rng)}"


def _match(rng):
    home, away = f"{_word(rng)} {rng.choice(TEAM_WORDS)}", f"{_word(rng)} {rng.choice(TEAM_WORDS)}"
    venue, town, player, other = f"{_word(rng)} Park", _word(rng), _person(rng), _person(rng)
    h, a = int(rng.integers(1, 6)), 0
    a = int(rng.integers(0, h))
    day, goals, minute = rng.choice(DAYS), int(rng.integers(2, 4)), int(rng.integers(60, 90))
    place, points = rng.choice(ORDINALS), int(rng.integers(10, 80))
    facts = [
        (
            rng.choice(
                [
                    f"{home} beat {away} {h}-{a} at {venue} on {day}.",
                    f"{home} won {h}-{a} against {away} at {venue} on {day} afternoon.",
                ]
            ),
            f"{home} beat {away} {h}-{a} at {venue}.",
        ),
        (
            rng.choice(
                [
                    f"{player} scored {goals} goals for {home}, the last in the {minute}th minute.",
                    f"The star was {player}, who scored {goals} goals for {home}.",
                ]
            ),
            f"{player} scored {goals} goals for {home}.",
        ),
        (
            f"The win lifts {home} to {place} place in the table with {points} points.",
            f"The win lifts {home} to {place} place with {points} points.",
        ),
    ]
    distractors = [
        f"{home} last met {away} in {int(rng.integers(1990, 2024))}, when the game ended "
        f"{int(rng.integers(0, 5))}-{int(rng.integers(0, 5))}.",
        f"{other} of {away} was booked in the {int(rng.integers(10, 90))}th minute.",
        f"The attendance at {venue} was {int(rng.integers(2, 60))},{int(rng.integers(100, 999))}.",
        f"{other} had scored {int(rng.integers(2, 20))} goals for {away} last season.",
    ]
    fillers = [
        f"It was a {rng.choice(['bright', 'cold', 'wet', 'windy'])} afternoon for supporters "
        f"in {town}.",
        "Both managers had spoken about the importance of the fixture during the week.",
        "Ticket prices had been lowered for the game.",
    ]
    return facts, distractors, fillers


def _weather(rng):
    region, town, other_town, agency = rng.choice(REGIONS), _word(rng), _word(rng), _word(rng)
    condition, unit = CONDITIONS[rng.integers(len(CONDITIONS))]
    day, amount = rng.choice(DAYS), int(rng.integers(10, 120))
    colour, hour, high = rng.choice(COLOURS), int(rng.integers(1, 12)), int(rng.integers(-5, 35))
    forecaster = _person(rng)
    facts = [
        (
            f"{condition} is expected across {region} on {day}, with up to {amount} {unit} "
            "in places.",
            f"{condition} is expected across {region} on {day}.",
        ),
        (
            rng.choice(
                [
                    f"The {agency} Weather Office has issued a {colour} warning for {town} "
                    f"until {hour} pm.",
                    f"A {colour} warning is in force for {town} until {hour} pm, the {agency} "
                    "Weather Office said.",
                ]
            ),
            f"A {colour} warning is in force for {town} until {hour} pm.",
        ),
        (
            f"Temperatures will reach a high of {high} degrees in {other_town}.",
            f"Temperatures will reach {high} degrees in {other_town}.",
        ),
    ]
    distractors = [
        f"Last {rng.choice(DAYS)}, {_word(rng)} recorded {int(rng.integers(5, 90))} {unit}.",
        f"Forecaster {forecaster} said conditions were typical for the season.",
        f"Sunrise in {town} is at {int(rng.integers(5, 8))}.{int(rng.integers(10, 59))} am.",
        f"The lowest temperature last night was {int(rng.integers(-10, 15))} degrees "
        f"in {_word(rng)}.",
    ]
    fillers = [
        "Residents are advised to check forecasts before travelling.",
        "The bulletin is updated every three hours.",
        f"Here is the forecast for {region}.",
    ]
    return facts, distractors, fillers


def _results(rng):
    company = f"{_word(rng)} {rng.choice(['Systems', 'Foods', 'Energy', 'Motors', 'Bank'])}"
    currency, quarter = rng.choice(CURRENCIES), rng.choice(QUARTERS)
    revenue, change = int(rng.integers(50, 999)), int(rng.integers(2, 40))
    direction = rng.choice(["rose", "fell"])
    profit, chief, action = int(rng.integers(5, 90)), _person(rng), rng.choice(ACTIONS)
    year = int(rng.integers(2025, 2030))
    facts = [
        (
            f"{company} reported revenue of {revenue} million {currency} for the {quarter} "
            f"quarter, up {change} percent from a year earlier.",
            f"{company} reported revenue of {revenue} million {currency}, up {change} percent.",
        ),
        (
            f"Net profit {direction} to {profit} million {currency}, "
            f"{rng.choice(['below', 'above'])} analysts' forecasts.",
            f"Net profit {direction} to {profit} million {currency}.",
        ),
        (
            rng.choice(
                [
                    f"Chief executive {chief} said the company would {action} in {year}.",
                    f"The company will {action} in {year}, chief executive {chief} said.",
                ]
            ),
            f"{chief} said the company would {action} in {year}.",
        ),
    ]
    distractors = [
        f"{company} was founded in {int(rng.integers(1900, 2010))} in {_word(rng)} and employs "
        f"{int(rng.integers(100, 9000))} people.",
        f"Shares of rival {_word(rng)} Group were unchanged at {int(rng.integers(5, 400))} "
        f"{currency}.",
        f"A year ago, revenue was {int(rng.integers(50, 999))} million {currency}.",
        f"Former chief executive {_person(rng)} left the company in "
        f"{int(rng.integers(2000, 2024))}.",
    ]
    fillers = [
        "The results were published before markets opened.",
        "Analysts will discuss the figures on a conference call later today.",
        f"{company} publishes its figures every quarter.",
    ]
    return facts, distractors, fillers


KINDS = {"match": _match, "weather": _weather, "results": _results}


def generate_report(rng, kind):
    """One `(article, summary)` of `kind`: three facts among distractors and filler.

    The facts keep their order; 0-3 other sentences come before the first
    (so Lead-N catches it only sometimes) and 0-2 between the others; the
    sentences form two to four paragraphs.
    """
    facts, distractors, fillers = KINDS[kind](rng)
    others = [*distractors, *fillers]
    others = [others[i] for i in rng.permutation(len(others))]
    count = int(rng.integers(3, len(others) + 1))
    others = others[:count]
    sentences = []
    lead = int(rng.integers(0, 4))
    sentences += others[:lead]
    rest = others[lead:]
    for fact, _ in facts:
        sentences.append(fact)
        take = int(rng.integers(0, 3))
        sentences += rest[:take]
        rest = rest[take:]
    sentences += rest
    breaks = set(
        rng.choice(np.arange(1, len(sentences)), size=int(rng.integers(1, 4)), replace=False)
    )
    paragraphs, current = [], []
    for index, sentence in enumerate(sentences):
        if index in breaks and current:
            paragraphs.append(" ".join(current))
            current = []
        current.append(sentence)
    paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs), " ".join(summary for _, summary in facts)


def generate_reports(seed=0, train_size=6000, validation_size=300, test_size=500):
    """The built-in set: match reports, weather bulletins and company results, in turn."""
    rng = np.random.default_rng(seed)
    kinds = list(KINDS)
    splits, seen, test_kinds = {}, set(), []
    for split, size in (
        ("train", train_size),
        ("validation", validation_size),
        ("test", test_size),
    ):
        articles, summaries = [], []
        while len(articles) < size:
            kind = kinds[len(articles) % len(kinds)]
            article, summary = generate_report(rng, kind)
            if article in seen:
                continue
            seen.add(article)
            articles.append(article)
            summaries.append(summary)
            if split == "test":
                test_kinds.append(kind)
        splits[split] = (articles, summaries)
    return DocumentData(**splits, source="reports", kinds=test_kinds)

"""Typed loaders and fixed, documented splits for the labelled data under ``data_dir()``.

Splits (all deterministic: membership is decided by a SHA-1 of ``"<seed>:<key>"``, independent of Python version):

* English SemEval restaurants: ``test`` = ``ABSA15_Restaurants_Test.xml`` (official 2015 test);
  ``train``/``dev`` = ``ABSA-15_Restaurants_Train_Final.xml`` split by review id, 15 % of reviews to ``dev``.
  ``ABSA16_Restaurants_Train_SB1_v2.xml`` is NEVER loaded: it is the 2015 train plus the 2015 test.
  ``Restaurants_Train_v2.xml`` (2014, coarse categories) is available for sentiment training only
  (:func:`load_semeval_2014`), minus any sentence whose text occurs in the 2015 dev or test;
  ``ABSA15_Hotels_Test.xml`` is an out-of-domain test (:func:`load_semeval_hotels`).
* Russian SemEval-2016 restaurants: only a train file exists; reviews split by review id 70/10/20
  into train/dev/test.
* Polish PolEmo 2.0 review level (``text/*``): official ``dev`` files are our ``test``; our ``dev`` is 10 % of
  each official train file (by text hash).
* Hungarian HuSST and Hebrew sentiment: official dev file is our ``test``; our ``dev`` is 10 % of train.

Sentence polarity for SemEval (used as the 3-class sentiment label): the set of opinion polarities of the
sentence; positive and negative together (or a 2014 ``conflict``) is ``mixed``; otherwise the single non-neutral
polarity wins (positive + neutral = positive); only neutral opinions = neutral. A sentence without opinions has
``sentence_polarity=None``; :func:`load_sentiment` labels such in-scope sentences ``neutral`` (they are mostly
narrative: "We went there on Tuesday") unless ``opinionless="drop"``; ``OutOfScope`` sentences are dropped.
``mixed`` (SemEval mixed/conflict, PolEmo ``amb``) is left out of 3-class data unless ``include_mixed=True``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from models.settings import data_dir

Lang = Literal["en", "ru", "pl", "hu", "he"]
Split = Literal["train", "dev", "test"]
Polarity = Literal["positive", "negative", "neutral", "mixed"]

LANGS: tuple[str, ...] = ("en", "ru", "pl", "hu", "he")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
SEED = 20260126

EN_DIR = "en-semeval-absa"
EN_TRAIN = "ABSA-15_Restaurants_Train_Final.xml"
EN_TEST = "ABSA15_Restaurants_Test.xml"
EN_2014 = "Restaurants_Train_v2.xml"
EN_HOTELS = "ABSA15_Hotels_Test.xml"
EN_FORBIDDEN = "ABSA16_Restaurants_Train_SB1_v2.xml"  # = 2015 train + 2015 test: never train on it
RU_DIR = "ru-semeval2016-absa"
RU_TRAIN = "restaurants_train_russian.xml"
PL_DIR = "pl-polemo2/text"
PL_DOMAINS: tuple[str, ...] = ("hotels", "medicine", "products", "reviews")
HU_DIR = "hu-husst"
HE_DIR = "he-sentiment"

EN_DEV_FRACTION = 0.15
RU_FRACTIONS = (0.7, 0.1, 0.2)
OWN_DEV_FRACTION = 0.10

PL_LABELS: dict[str, Polarity] = {
    "meta_plus_m": "positive",
    "meta_plus_s": "positive",
    "meta_minus_m": "negative",
    "meta_minus_s": "negative",
    "meta_zero": "neutral",
    "meta_amb": "mixed",
}
HE_LABELS: dict[str, Polarity] = {"0": "positive", "1": "negative", "2": "neutral"}
# The 2014 file has coarse categories; mapped to the 2015 scheme only approximately (sentiment use only).
COARSE_2014: dict[str, str] = {
    "food": "FOOD#QUALITY",
    "service": "SERVICE#GENERAL",
    "price": "RESTAURANT#PRICES",
    "ambience": "AMBIENCE#GENERAL",
    "anecdotes/miscellaneous": "RESTAURANT#MISCELLANEOUS",
}


class Opinion(NamedTuple):
    """One SemEval opinion: ``ENTITY#ATTRIBUTE`` category, polarity and target term (None for NULL)."""

    category: str
    polarity: str
    target: str | None


@dataclass(frozen=True)
class AbsaSentence:
    """A SemEval ABSA sentence with its opinions."""

    id: str
    text: str
    lang: str
    source: str
    opinions: list[Opinion] = field(default_factory=list)
    sentence_polarity: Polarity | None = None
    review_id: str = ""
    out_of_scope: bool = False


@dataclass(frozen=True)
class LabelledText:
    """A text with a sentiment label (``negative``/``neutral``/``positive``, or ``mixed`` when asked)."""

    id: str
    text: str
    lang: str
    label: str
    domain: str
    source: str


class DataMissingError(FileNotFoundError):
    """The labelled data directory or one of its files is absent."""


def _root(data: Path | str | None) -> Path:
    return Path(data) if data is not None else data_dir()


def _require(path: Path) -> Path:
    if not path.exists():
        raise DataMissingError(
            f"labelled data not found: {path} (set $REVIEWDESK_DATA or pass --data; see ../shared/data/README.md)"
        )
    return path


def _bucket(key: str, seed: int = SEED) -> float:
    """A stable number in [0, 1) for a key: decides split membership."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:12], 16) / float(1 << 48)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def sentence_polarity(polarities: list[str]) -> Polarity | None:
    """Aggregate opinion polarities into one sentence polarity (see module docstring)."""
    if not polarities:
        return None
    found = set(polarities)
    if "conflict" in found or {"positive", "negative"} <= found:
        return "mixed"
    if "positive" in found:
        return "positive"
    if "negative" in found:
        return "negative"
    return "neutral"


def _parse_semeval(path: Path, lang: str) -> list[AbsaSentence]:
    """Parse a SemEval 2015/2016 file (Reviews/Review/sentences/sentence/Opinions)."""
    root = ET.parse(_require(path)).getroot()
    out: list[AbsaSentence] = []
    for review in root.iter("Review"):
        rid = review.get("rid", "")
        for sent in review.iter("sentence"):
            text = (sent.findtext("text") or "").strip()
            opinions = [
                Opinion(
                    op.get("category", ""),
                    op.get("polarity", ""),
                    None if op.get("target") in (None, "NULL") else op.get("target"),
                )
                for op in sent.iter("Opinion")
            ]
            out.append(
                AbsaSentence(
                    id=sent.get("id", ""),
                    text=text,
                    lang=lang,
                    source=path.name,
                    opinions=opinions,
                    sentence_polarity=sentence_polarity([o.polarity for o in opinions]),
                    review_id=rid,
                    out_of_scope=sent.get("OutOfScope") == "TRUE",
                )
            )
    return out


def _split_by_review(
    sentences: list[AbsaSentence], fractions: tuple[float, ...], names: tuple[str, ...]
) -> dict[str, list[AbsaSentence]]:
    """Assign whole reviews to splits by a stable hash of the review id."""
    bounds: list[float] = []
    total = 0.0
    for frac in fractions:
        total += frac
        bounds.append(total)
    result: dict[str, list[AbsaSentence]] = {name: [] for name in names}
    for sent in sentences:
        b = _bucket(sent.review_id)
        idx = next((i for i, bound in enumerate(bounds) if b < bound), len(names) - 1)
        result[names[idx]].append(sent)
    return result


def load_semeval(lang: Literal["en", "ru"], split: Split, data: Path | str | None = None) -> list[AbsaSentence]:
    """SemEval restaurant sentences for one language and one fixed split."""
    root = _root(data)
    if lang == "en":
        if split == "test":
            return _parse_semeval(root / EN_DIR / EN_TEST, "en")
        parts = _split_by_review(
            _parse_semeval(root / EN_DIR / EN_TRAIN, "en"), (1 - EN_DEV_FRACTION, EN_DEV_FRACTION), ("train", "dev")
        )
        return parts[split]
    if lang == "ru":
        parts = _split_by_review(_parse_semeval(root / RU_DIR / RU_TRAIN, "ru"), RU_FRACTIONS, SPLITS)
        return parts[split]
    raise ValueError(f"SemEval data exists for en and ru only, not {lang!r}")


def load_semeval_hotels(data: Path | str | None = None) -> list[AbsaSentence]:
    """English hotel sentences (SemEval 2015): an out-of-domain test set only."""
    return _parse_semeval(_root(data) / EN_DIR / EN_HOTELS, "en")


def load_semeval_2014(data: Path | str | None = None) -> list[AbsaSentence]:
    """English 2014 restaurant sentences (coarse categories) minus 2015 dev/test texts: sentiment training only."""
    root = _root(data)
    path = _require(root / EN_DIR / EN_2014)
    held_out = {_norm(s.text) for s in load_semeval("en", "test", root) + load_semeval("en", "dev", root)}
    held_out |= {_norm(s.text) for s in load_semeval_hotels(root)}
    out: list[AbsaSentence] = []
    for sent in ET.parse(path).getroot().iter("sentence"):
        text = (sent.findtext("text") or "").strip()
        if _norm(text) in held_out:
            continue
        opinions = [
            Opinion(COARSE_2014.get(c.get("category", ""), c.get("category", "").upper()), c.get("polarity", ""), None)
            for c in sent.iter("aspectCategory")
        ]
        out.append(
            AbsaSentence(
                id=f"2014:{sent.get('id', '')}",
                text=text,
                lang="en",
                source=path.name,
                opinions=opinions,
                sentence_polarity=sentence_polarity([o.polarity for o in opinions]),
                review_id=f"2014:{sent.get('id', '')}",
            )
        )
    return out


def absa_to_labelled(
    sentences: list[AbsaSentence],
    domain: str = "restaurants",
    opinionless: Literal["neutral", "drop"] = "neutral",
    include_mixed: bool = False,
) -> list[LabelledText]:
    """Turn SemEval sentences into sentence-level sentiment examples (module docstring has the rules)."""
    out: list[LabelledText] = []
    for s in sentences:
        if s.out_of_scope or not s.text:
            continue
        label = s.sentence_polarity
        if label is None:
            if opinionless == "drop":
                continue
            label = "neutral"
        if label == "mixed" and not include_mixed:
            continue
        out.append(LabelledText(s.id, s.text, s.lang, label, domain, s.source))
    return out


def _load_polemo(root: Path, split: Split) -> list[LabelledText]:
    out: list[LabelledText] = []
    official = "dev" if split == "test" else "train"
    for domain in PL_DOMAINS:
        path = _require(root / PL_DIR / f"{domain}.text.{official}.txt")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            text, sep, tag = line.rstrip().rpartition(" __label__")
            if not sep:
                continue
            if split != "test":
                in_dev = _bucket(_norm(text)) < OWN_DEV_FRACTION
                if in_dev != (split == "dev"):
                    continue
            out.append(LabelledText(f"pl:{domain}:{official}:{lineno}", text.strip(), "pl", PL_LABELS[tag], domain,
                                    path.name))
    return out


def _load_husst(root: Path, split: Split) -> list[LabelledText]:
    name = "sst_dev.json" if split == "test" else "sst_train.json"
    path = _require(root / HU_DIR / name)
    out: list[LabelledText] = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        text = str(row["Sent"]).strip()
        if split != "test" and (_bucket(_norm(text)) < OWN_DEV_FRACTION) != (split == "dev"):
            continue
        out.append(LabelledText(f"hu:{name}:{row['id']}", text, "hu", str(row["label"]), "movie_reviews", name))
    return out


def _load_hebrew(root: Path, split: Split) -> list[LabelledText]:
    name = "token_dev.tsv" if split == "test" else "token_train.tsv"
    path = _require(root / HE_DIR / name)
    out: list[LabelledText] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        for lineno, row in enumerate(reader):
            if lineno == 0 or len(row) < 2 or row[-1].strip() not in HE_LABELS:
                continue
            text = "\t".join(row[:-1]).strip()
            if split != "test" and (_bucket(_norm(text)) < OWN_DEV_FRACTION) != (split == "dev"):
                continue
            out.append(LabelledText(f"he:{name}:{lineno}", text, "he", HE_LABELS[row[-1].strip()], "facebook_comments",
                                    name))
    return out


PL_SENTENCE_LABELS: dict[str, Polarity] = {
    "z_plus_m": "positive", "z_plus_s": "positive", "z_minus_m": "negative", "z_minus_s": "negative",
    "z_zero": "neutral", "z_amb": "mixed",
}


def load_polemo_sentences(data: Path | str | None = None, fraction: float = 0.3) -> list[LabelledText]:
    """Extra training sentences: a fixed hash sample of PolEmo sentence-level train files (hotels, medicine).

    Sentences that occur inside any review of our pl dev or test split are removed (the sentence files are cut
    from the same reviews), so this set can be used for training without leaking into evaluation.
    """
    root = _root(data)
    held_out = "\n".join(r.text for split in ("dev", "test") for r in _load_polemo(root, split))  # type: ignore[arg-type]
    out: list[LabelledText] = []
    for domain in ("hotels", "medicine"):
        path = _require(root / "pl-polemo2" / "sentence" / f"{domain}.sentence.train.txt")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            text, sep, tag = line.rstrip().rpartition(" __label__")
            text = text.strip()
            if not sep or tag not in PL_SENTENCE_LABELS or _bucket(f"s:{text}") >= fraction or text in held_out:
                continue
            out.append(LabelledText(f"pl:s:{domain}:{lineno}", text, "pl", PL_SENTENCE_LABELS[tag], domain, path.name))
    return out


def load_sentiment(
    lang: Lang,
    split: Split,
    data: Path | str | None = None,
    include_mixed: bool = False,
    opinionless: Literal["neutral", "drop"] = "neutral",
) -> list[LabelledText]:
    """3-class sentiment examples for one language and fixed split (``mixed`` only if asked)."""
    root = _root(data)
    _require(root)
    if lang in ("en", "ru"):
        return absa_to_labelled(load_semeval(lang, split, root), opinionless=opinionless, include_mixed=include_mixed)
    if lang == "pl":
        rows = _load_polemo(root, split)
    elif lang == "hu":
        rows = _load_husst(root, split)
    elif lang == "he":
        rows = _load_hebrew(root, split)
    else:
        raise ValueError(f"no sentiment data for language {lang!r}; known: {', '.join(LANGS)}")
    return rows if include_mixed else [r for r in rows if r.label != "mixed"]


def split_summary(data: Path | str | None = None) -> list[dict[str, object]]:
    """Size and class counts of every language's train/dev/test sentiment split (mixed included, counted apart)."""
    root = _root(data)
    rows: list[dict[str, object]] = []
    for lang in LANGS:
        for split in SPLITS:
            items = load_sentiment(lang, split, root, include_mixed=True)  # type: ignore[arg-type]
            counts = Counter(r.label for r in items)
            rows.append({"lang": lang, "split": split, "n": len(items), **{k: counts.get(k, 0) for k in
                                                                          (*LABELS, "mixed")}})
    return rows


if __name__ == "__main__":
    for summary_row in split_summary():
        print(summary_row)

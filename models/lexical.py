"""Per-language word and character n-gram sentiment models, added to the encoder head's logits.

The frozen e5-small vector loses surface cues that in-language training text carries well (Hebrew prefixes,
Hungarian suffixes, Polish review idioms). A class-balanced logistic regression on TF-IDF word 1-2-grams and
character 2-5-grams (inside word boundaries), trained on each language's own training rows, adds
``weight * log P_lexical`` to the head's logits (a product of experts; see MODEL_CARD.md for the dev choice).

Stored without pickle: vocabularies as unicode arrays, idf and coefficients as float32, in one ``.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

MAX_CHARS = 5000  # the analysis reads no more of a review (models.analyze.MAX_CHARS)


def normalise(text: str) -> str:
    """Lower-cased text, cut where the analysis stops reading.

    Splitting punctuation off words (PolEmo's files are pre-tokenised, live text is not) was tried and lost
    0.6 point of dev macro-F1 on average (en and he), so the vectorizers see the text as written.
    """
    return text[:MAX_CHARS].lower()


def _vectorizers(word_vocab: Any = None, char_vocab: Any = None, word_max: int | None = None,
                 char_max: int | None = None) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    common: dict[str, Any] = {"preprocessor": normalise, "sublinear_tf": True, "dtype": np.float32}
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=word_max, vocabulary=word_vocab, **common)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=char_max,
                           vocabulary=char_vocab, **common)
    return word, char


@dataclass
class LexicalLanguage:
    """One language's fitted n-gram vocabularies, idf weights and logistic-regression coefficients."""

    word_vocab: np.ndarray
    word_idf: np.ndarray
    char_vocab: np.ndarray
    char_idf: np.ndarray
    coef: np.ndarray  # (n_word + n_char, 3)
    intercept: np.ndarray  # (3,)

    def __post_init__(self) -> None:
        self._word, self._char = _vectorizers({t: i for i, t in enumerate(self.word_vocab.tolist())},
                                              {t: i for i, t in enumerate(self.char_vocab.tolist())})
        self._word.idf_ = self.word_idf
        self._char.idf_ = self.char_idf

    def features(self, texts: list[str]) -> sp.csr_matrix:
        """TF-IDF rows: the word block and the character block, each L2-normalised, side by side."""
        return sp.hstack([self._word.transform(texts), self._char.transform(texts)], format="csr")

    def log_proba(self, texts: list[str]) -> np.ndarray:
        """Log class probabilities (n, 3) in the head's label order."""
        z = np.asarray(self.features(texts) @ self.coef, dtype=np.float32) + self.intercept
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_language(texts: list[str], labels: np.ndarray, word_max: int = 20000, char_max: int = 50000,
                 c: float = 1.0) -> LexicalLanguage:
    """Fit one language's vectorizers and class-balanced logistic regression (labels are 0..2)."""
    word, char = _vectorizers(word_max=word_max, char_max=char_max)
    x = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)], format="csr")
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, labels)
    if list(clf.classes_) != [0, 1, 2]:
        raise ValueError(f"lexical model needs all three classes, got {list(clf.classes_)}")

    def vocab(v: TfidfVectorizer) -> np.ndarray:
        return np.array(v.get_feature_names_out().tolist(), dtype=str)

    return LexicalLanguage(vocab(word), word.idf_.astype(np.float32), vocab(char), char.idf_.astype(np.float32),
                           clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32))


@dataclass
class LexicalModels:
    """The lexical models of every language that has training data."""

    languages: dict[str, LexicalLanguage]

    def log_proba(self, texts: list[str], langs: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Log probabilities (n, 3) and a mask of the rows whose language has a lexical model."""
        out = np.zeros((len(texts), 3), dtype=np.float32)
        mask = np.zeros(len(texts), dtype=bool)
        for lang, model in self.languages.items():
            rows = [k for k, g in enumerate(langs) if g == lang]
            if rows:
                out[rows] = model.log_proba([texts[k] for k in rows])
                mask[rows] = True
        return out, mask

    def save(self, path: Path) -> None:
        """Write every language into one compressed, pickle-free ``.npz``."""
        arrays = {f"{lang}__{name}": getattr(m, name) for lang, m in self.languages.items()
                  for name in ("word_vocab", "word_idf", "char_vocab", "char_idf", "coef", "intercept")}
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> LexicalModels:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as arrays:
            langs = sorted({key.split("__", 1)[0] for key in arrays.files})
            return cls({lang: LexicalLanguage(*(arrays[f"{lang}__{name}"] for name in (
                "word_vocab", "word_idf", "char_vocab", "char_idf", "coef", "intercept"))) for lang in langs})

"""TF-IDF + logistic regression on the same split: the bar the LSTM has to clear in every run."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def train_baseline(train_tokens: Sequence[Sequence[str]], train_labels: Sequence[str], seed: int = 42) -> Pipeline:
    """Fit on already-cleaned tokens (the same cleaning the LSTM sees), word uni- and bigrams."""
    model = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    analyzer="word", tokenizer=_identity, preprocessor=_identity, token_pattern=None,
                    lowercase=False, ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                ),
            ),
            ("logreg", LogisticRegression(C=2.0, max_iter=2000, random_state=seed)),
        ]
    )
    return model.fit([list(t) for t in train_tokens], list(train_labels))

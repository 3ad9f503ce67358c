"""TF-IDF + logistic regression on the same split: the bar the LSTM has to clear in every run.

Word unigrams plus character 2-5-grams within words, C=0.5: the strongest of the usual TF-IDF set-ups
on this data's validation split (word bigrams or class weights did not help), so the comparison is fair.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_union

from .memory import release_memory


def _join(token_lists: Sequence[Sequence[str]]) -> list[str]:
    return [" ".join(tokens) for tokens in token_lists]


class TfidfBaseline:
    """Fits on already-cleaned tokens (the same cleaning the LSTM sees)."""

    def __init__(self, seed: int = 42) -> None:
        features = make_union(
            TfidfVectorizer(token_pattern=r"\S+", lowercase=False, min_df=2, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False, min_df=2, sublinear_tf=True),
        )
        self.pipeline = Pipeline(
            [("tfidf", features), ("logreg", LogisticRegression(C=0.5, max_iter=3000, random_state=seed))]
        )

    def fit(self, token_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> TfidfBaseline:
        self.pipeline.fit(_join(token_lists), list(labels))
        release_memory()  # the fit's sparse matrices are garbage; hand their pages back before the notebook goes on
        return self

    def predict(self, token_lists: Sequence[Sequence[str]]) -> list[str]:
        return list(self.pipeline.predict(_join(token_lists)))


def train_baseline(train_tokens: Sequence[Sequence[str]], train_labels: Sequence[str], seed: int = 42) -> TfidfBaseline:
    return TfidfBaseline(seed).fit(train_tokens, train_labels)

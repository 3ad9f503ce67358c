"""A word-index tokenizer saved as plain JSON (never pickle), carrying its own cleaning settings.

Keras 3 dropped ``keras.preprocessing.text.Tokenizer``; this is the small part of it the model needs,
plus the text-cleaning configuration so that serving tokenizes exactly like training did.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .text import CleaningConfig, clean_tokens

FORMAT = "sentiment-pipeline/tokenizer"
FORMAT_VERSION = 1
PAD_ID = 0
OOV_ID = 1


def word_bigrams(tokens: Sequence[str]) -> list[str]:
    """Unigrams followed by adjacent-pair bigrams: the bag-of-n-grams view of a tweet."""
    return list(tokens) + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def _build_index(counts: Counter, max_size: int, min_count: int) -> dict[str, int]:
    # Ties are broken alphabetically so the same data always gives the same index.
    ranked = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
    return {token: i + 2 for i, (token, _) in enumerate(ranked[:max_size])}


def _encode(sequences: Iterable[Sequence[str]], index: dict[str, int], length: int) -> np.ndarray:
    rows = list(sequences)
    out = np.zeros((len(rows), length), dtype=np.int32)
    for i, tokens in enumerate(rows):
        ids = [index.get(token, OOV_ID) for token in tokens[:length]]
        out[i, : len(ids)] = ids
    return out


@dataclass
class TweetTokenizer:
    """Maps cleaned tokens (and their bigrams) to integer ids padded to fixed lengths."""

    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    max_words: int = 20_000
    max_ngrams: int = 60_000
    min_count: int = 2
    max_len: int = 40
    word_index: dict[str, int] = field(default_factory=dict)
    ngram_index: dict[str, int] = field(default_factory=dict)

    @property
    def ngram_len(self) -> int:
        return 2 * self.max_len

    @property
    def vocab_size(self) -> int:
        return len(self.word_index) + 2

    @property
    def ngram_vocab_size(self) -> int:
        return len(self.ngram_index) + 2

    def fit(self, token_lists: Sequence[Sequence[str]]) -> TweetTokenizer:
        """Build both indexes from already-cleaned training tokens."""
        words: Counter = Counter()
        ngrams: Counter = Counter()
        for tokens in token_lists:
            words.update(tokens)
            ngrams.update(word_bigrams(tokens))
        self.word_index = _build_index(words, self.max_words, self.min_count)
        self.ngram_index = _build_index(ngrams, self.max_ngrams, self.min_count)
        return self

    def tokenize(self, texts: Iterable[str]) -> list[list[str]]:
        """Clean raw texts with the configuration the tokenizer was fitted with."""
        return [clean_tokens(text, self.cleaning) for text in texts]

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """Model inputs for cleaned tokens: ``{"words": [n, max_len], "ngrams": [n, 2*max_len]}``."""
        if not self.word_index:
            raise ValueError("tokenizer is not fitted")
        return {
            "words": _encode(token_lists, self.word_index, self.max_len),
            "ngrams": _encode((word_bigrams(t) for t in token_lists), self.ngram_index, self.ngram_len),
        }

    def encode(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        """Model inputs for raw texts (cleaning included): the one call serving needs."""
        return self.encode_tokens(self.tokenize(texts))

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "cleaning": self.cleaning.to_dict(),
                "max_words": self.max_words,
                "max_ngrams": self.max_ngrams,
                "min_count": self.min_count,
                "max_len": self.max_len,
                "word_index": self.word_index,
                "ngram_index": self.ngram_index,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> TweetTokenizer:
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} file")
        return cls(
            cleaning=CleaningConfig.from_dict(data["cleaning"]),
            max_words=int(data["max_words"]),
            max_ngrams=int(data["max_ngrams"]),
            min_count=int(data["min_count"]),
            max_len=int(data["max_len"]),
            word_index={str(k): int(v) for k, v in data["word_index"].items()},
            ngram_index={str(k): int(v) for k, v in data["ngram_index"].items()},
        )

"""A word-index tokenizer saved as plain JSON (never pickle), carrying its own cleaning settings.

Keras 3 dropped ``keras.preprocessing.text.Tokenizer``; this is the small part of it the model needs,
plus the text-cleaning configuration so that serving tokenizes exactly like training did.

Three views of a tweet: word ids in order (for the LSTM), a bag of words and word bigrams, and a bag of
character 2-5-grams inside words (fastText-style subwords: misspellings, elongations and rare word forms
share most of their grams with the common spelling).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .cleaning import PLACEHOLDERS, CleaningConfig, clean_tokens

FORMAT = "sentiment-pipeline/tokenizer"
FORMAT_VERSION = 2  # 2 added the character n-gram index; version 1 files still load (no "chars" input)
READABLE_VERSIONS = (1, 2)
PAD_ID = 0
OOV_ID = 1
CHAR_NGRAM_SIZES = range(2, 6)
# Every tweet gets this gram, so a tweet of placeholders only (e.g. a bare URL) never has an empty bag:
# averaging an all-padding row divides by zero and poisons training with NaN.
ALWAYS_GRAM = "^"
CHAR_ID_CACHE_SIZE = 200_000  # words whose character n-gram ids are remembered (a few hundred bytes each)


def word_bigrams(tokens: Sequence[str]) -> list[str]:
    """Unigrams followed by adjacent-pair bigrams: the bag-of-n-grams view of a tweet."""
    return list(tokens) + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def char_ngrams(tokens: Sequence[str]) -> list[str]:
    """Character 2-5-grams of each word wrapped in ``<...>``; placeholders such as ``xxurl`` have none."""
    grams = [ALWAYS_GRAM]
    for token in tokens:
        if token in PLACEHOLDERS:
            continue
        word = f"<{token}>"
        grams.extend(word[i : i + n] for n in CHAR_NGRAM_SIZES for i in range(len(word) - n + 1))
    return grams


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
    """Maps cleaned tokens, their bigrams and their character n-grams to integer ids padded to fixed lengths."""

    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    max_words: int = 20_000
    max_ngrams: int = 60_000
    max_chargrams: int = 50_000
    min_count: int = 2
    max_len: int = 40
    char_len: int = 256  # a tweet has ~190 character n-grams on average; longer bags are cut
    word_index: dict[str, int] = field(default_factory=dict)
    ngram_index: dict[str, int] = field(default_factory=dict)
    char_index: dict[str, int] = field(default_factory=dict)
    # word -> its character n-gram ids: building the grams of every word was a third of the encoding time.
    _char_ids: dict[str, list[int]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def ngram_len(self) -> int:
        return 2 * self.max_len

    @property
    def vocab_size(self) -> int:
        return len(self.word_index) + 2

    @property
    def ngram_vocab_size(self) -> int:
        return len(self.ngram_index) + 2

    @property
    def char_vocab_size(self) -> int:
        return len(self.char_index) + 2

    def fit(self, token_lists: Sequence[Sequence[str]]) -> TweetTokenizer:
        """Build the three indexes from already-cleaned training tokens."""
        words: Counter = Counter()
        ngrams: Counter = Counter()
        chars: Counter = Counter()
        for tokens in token_lists:
            words.update(tokens)
            ngrams.update(word_bigrams(tokens))
            chars.update(set(char_ngrams(tokens)))  # in how many tweets, so one long word cannot dominate
        self.word_index = _build_index(words, self.max_words, self.min_count)
        self.ngram_index = _build_index(ngrams, self.max_ngrams, self.min_count)
        self.char_index = _build_index(chars, self.max_chargrams, self.min_count)
        self._char_ids.clear()
        if not self.word_index:  # every text would be unknown words only: say why instead of "not fitted" later
            raise ValueError(
                f"no word occurs at least min_count={self.min_count} times in the {len(token_lists):,} training "
                f"texts ({len(words):,} distinct words): lower min_count"
            )
        return self

    def tokenize(self, texts: Iterable[str]) -> list[list[str]]:
        """Clean raw texts with the configuration the tokenizer was fitted with."""
        return [clean_tokens(text, self.cleaning) for text in texts]

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> dict[str, np.ndarray]:
        """Model inputs for cleaned tokens: ``words`` [n, max_len], ``ngrams`` [n, 2*max_len], ``chars`` [n, char_len].

        ``chars`` is absent for a version-1 tokenizer (its models have no such input).
        """
        if not self.word_index:
            raise ValueError("tokenizer is not fitted")
        inputs = {
            "words": _encode(token_lists, self.word_index, self.max_len),
            "ngrams": _encode((word_bigrams(t) for t in token_lists), self.ngram_index, self.ngram_len),
        }
        if self.char_index:
            inputs["chars"] = self._encode_chars(token_lists)
        # A text that cleans to no tokens (whitespace, only stop words) would be all padding: the model's masked
        # averages then divide by zero and answer NaN. It is encoded as one unknown word instead: a defined answer.
        empty = [i for i, tokens in enumerate(token_lists) if not tokens]
        inputs["words"][empty, 0] = OOV_ID
        inputs["ngrams"][empty, 0] = OOV_ID
        return inputs

    def _encode_chars(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """``_encode(char_ngrams(tokens), char_index, char_len)`` for each row, from per-word cached ids."""
        out = np.zeros((len(token_lists), self.char_len), dtype=np.int32)
        always = self.char_index.get(ALWAYS_GRAM, OOV_ID)
        for i, tokens in enumerate(token_lists):
            ids = [always]
            for token in tokens:
                if len(ids) >= self.char_len:
                    break
                if token in PLACEHOLDERS:
                    continue
                word_ids = self._char_ids.get(token)
                if word_ids is None:
                    word_ids = [self.char_index.get(gram, OOV_ID) for gram in char_ngrams([token])[1:]]
                    if len(self._char_ids) < CHAR_ID_CACHE_SIZE:
                        self._char_ids[token] = word_ids
                ids.extend(word_ids)
            out[i, : min(len(ids), self.char_len)] = ids[: self.char_len]
        return out

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
                "max_chargrams": self.max_chargrams,
                "min_count": self.min_count,
                "max_len": self.max_len,
                "char_len": self.char_len,
                "word_index": self.word_index,
                "ngram_index": self.ngram_index,
                "char_index": self.char_index,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> TweetTokenizer:
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"not a {FORMAT} file of version {' or '.join(map(str, READABLE_VERSIONS))}")
        return cls(
            cleaning=CleaningConfig.from_dict(data["cleaning"]),
            max_words=int(data["max_words"]),
            max_ngrams=int(data["max_ngrams"]),
            max_chargrams=int(data.get("max_chargrams", 0)),
            min_count=int(data["min_count"]),
            max_len=int(data["max_len"]),
            char_len=int(data.get("char_len", 0)),
            word_index={str(k): int(v) for k, v in data["word_index"].items()},
            ngram_index={str(k): int(v) for k, v in data["ngram_index"].items()},
            char_index={str(k): int(v) for k, v in data.get("char_index", {}).items()},
        )

"""Tweet text cleaning shared by training and serving.

Everything here works offline: NLTK's ``TweetTokenizer`` and stemmers need no downloaded data.
Negations are kept (and ``n't`` is spelled out) because "not good" and "good" mean opposite things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache

STEMMERS = ("none", "porter", "snowball")  # the `stemmer` parameter's choices (params.py offers these)

URL_TOKEN = "xxurl"
USER_TOKEN = "xxuser"
NUMBER_TOKEN = "xxnum"
CENSORED_TOKEN = "xxcensored"
PLACEHOLDERS = frozenset({URL_TOKEN, USER_TOKEN, NUMBER_TOKEN, CENSORED_TOKEN})

_APOSTROPHES = re.compile(r"[`´‘’]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")
_CENSORED = re.compile(r"\*{2,}")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s|am|pm|k)?$", re.IGNORECASE)
_SPECIAL_NEGATIONS = {"can't": "can not", "won't": "will not", "shan't": "shall not", "ain't": "is not"}
_NEGATION_SUFFIX = re.compile(r"(\w)n't\b", re.IGNORECASE)
# Tweets often drop the apostrophe; spell these out too so "dont" and "don't" become the same tokens.
_BARE_NEGATIONS = {
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "couldnt": "could not",
    "shouldnt": "should not",
    "wouldnt": "would not",
    "aint": "is not",
    "mustnt": "must not",
}

# A small English stop-word list (NLTK's needs a download). Negations are deliberately absent.
STOP_WORDS = frozenset(
    """a an the and or but if then so than too very of at by for with about against between into
    through during before after above below to from up down in out on off over under again further
    once here there when where why how all any both each few more most other some such only own same
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
    hers herself it its itself they them their theirs themselves what which who whom this that these
    those am is are was were be been being have has had having do does did doing would should could
    will shall can just""".split()
)
NEGATIONS = frozenset({"not", "no", "nor", "never", "nothing", "nobody", "none", "nowhere", "neither"})
assert not STOP_WORDS & NEGATIONS


@dataclass(frozen=True)
class CleaningConfig:
    """How raw text becomes tokens; stored with the tokenizer so serving cleans exactly as training did."""

    stemmer: str = "none"  # one of STEMMERS
    remove_stop_words: bool = False
    max_chars: int = 5000  # longer inputs are cut before tokenizing (bounded work per text)

    def __post_init__(self) -> None:
        if self.stemmer not in STEMMERS:
            raise ValueError(f"unknown stemmer {self.stemmer!r}: use {', '.join(STEMMERS)}")
        if self.max_chars < 1:
            raise ValueError("max_chars must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CleaningConfig:
        return cls(**{k: data[k] for k in ("stemmer", "remove_stop_words", "max_chars") if k in data})


# NLTK is imported on first use, so reading STEMMERS or CleaningConfig (params.py, the DAG) costs no NLTK import.
@lru_cache(maxsize=1)
def _tweet_tokenizer():
    from nltk.tokenize import TweetTokenizer

    # Case is lowered by _lower below, with the same result as preserve_case=False.
    return TweetTokenizer(preserve_case=True, reduce_len=True, strip_handles=False)


@lru_cache(maxsize=1)
def _emoticon_pattern():
    from nltk.tokenize.casual import EMOTICON_RE

    return EMOTICON_RE


def _lower(words: list[str]) -> list[str]:
    """NLTK's preserve_case=False: lower every token except emoticons (":D" stays). NLTK runs its emoticon regex on
    every token, a third of the cleaning time; a token that lowering leaves unchanged needs no such check."""
    emoticon = _emoticon_pattern()
    return [word if word == (low := word.lower()) or emoticon.search(word) else low for word in words]


@lru_cache(maxsize=2)
def _stemmer(name: str):
    from nltk.stem import PorterStemmer, SnowballStemmer

    return PorterStemmer() if name == "porter" else SnowballStemmer("english")


@lru_cache(maxsize=200_000)
def _stem(name: str, token: str) -> str:
    return _stemmer(name).stem(token)


def _normalize(text: str) -> str:
    text = _APOSTROPHES.sub("'", text)
    text = _URL.sub(f" {URL_TOKEN} ", text)
    text = _HANDLE.sub(f" {USER_TOKEN} ", text)
    text = _CENSORED.sub(f" {CENSORED_TOKEN} ", text)
    for contraction, expanded in _SPECIAL_NEGATIONS.items():
        if contraction in text.lower():
            text = re.sub(re.escape(contraction), expanded, text, flags=re.IGNORECASE)
    return _NEGATION_SUFFIX.sub(r"\1 not", text)


def clean_tokens(text: str, config: CleaningConfig = CleaningConfig()) -> list[str]:
    """Turn one raw tweet into normalized tokens (lower case, placeholders for URLs/users/numbers)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    tokens: list[str] = []
    for token in _lower(_tweet_tokenizer().tokenize(_normalize(text[: config.max_chars]))):
        if token in _BARE_NEGATIONS:
            tokens.extend(_BARE_NEGATIONS[token].split())
            continue
        if _NUMBER.match(token):
            token = NUMBER_TOKEN
        elif config.remove_stop_words and token in STOP_WORDS:
            continue
        elif config.stemmer != "none" and token.isalpha() and token not in PLACEHOLDERS:
            token = _stem(config.stemmer, token)
        tokens.append(token)
    return tokens


def clean_texts(texts: Iterable[str], config: CleaningConfig = CleaningConfig()) -> list[list[str]]:
    """Clean many texts with one configuration."""
    return [clean_tokens(text, config) for text in texts]

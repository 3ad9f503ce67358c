import json

import numpy as np
import pytest

from sentiment_pipeline.text import CleaningConfig
from sentiment_pipeline.tokenizer import OOV_ID, PAD_ID, TweetTokenizer, word_bigrams

TRAIN = [["good", "day"], ["bad", "day"], ["good", "good", "film"], ["not", "good"], ["bad"]]


def test_fit_is_deterministic_and_ranked_by_frequency():
    first = TweetTokenizer(min_count=1).fit(TRAIN)
    second = TweetTokenizer(min_count=1).fit(list(reversed(TRAIN)))
    assert first.word_index == second.word_index
    assert first.word_index["good"] == 2  # most frequent word gets the first id after pad/oov
    assert TweetTokenizer(min_count=2).fit(TRAIN).word_index.keys() == {"good", "day", "bad"}


def test_encode_pads_truncates_and_marks_unknown_words():
    tokenizer = TweetTokenizer(min_count=1, max_len=3).fit(TRAIN)
    encoded = tokenizer.encode_tokens([["good"], ["unseen", "good", "day", "bad"]])
    words = encoded["words"]
    assert words.shape == (2, 3) and words.dtype == np.int32
    assert list(words[0]) == [tokenizer.word_index["good"], PAD_ID, PAD_ID]
    assert words[1][0] == OOV_ID
    assert encoded["ngrams"].shape == (2, 6)
    assert word_bigrams(["a", "b", "c"]) == ["a", "b", "c", "a b", "b c"]


def test_json_round_trip_keeps_cleaning_and_gives_identical_encodings():
    tokenizer = TweetTokenizer(cleaning=CleaningConfig(stemmer="snowball"), min_count=1, max_len=5).fit(TRAIN)
    text = tokenizer.to_json()
    assert json.loads(text)["format"] == "sentiment-pipeline/tokenizer"
    loaded = TweetTokenizer.from_json(text)
    assert loaded.cleaning == tokenizer.cleaning
    raw = ["Good films!", "not a good day @bob"]
    for key in ("words", "ngrams"):
        assert np.array_equal(loaded.encode(raw)[key], tokenizer.encode(raw)[key])


def test_rejects_foreign_files_and_unfitted_use():
    with pytest.raises(ValueError, match="not a sentiment-pipeline/tokenizer"):
        TweetTokenizer.from_json(json.dumps({"word_index": {}}))
    with pytest.raises(ValueError, match="not fitted"):
        TweetTokenizer().encode(["hi"])

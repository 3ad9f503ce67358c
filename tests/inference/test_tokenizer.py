import json

import numpy as np
import pytest

from sentiment_pipeline.inference.cleaning import CleaningConfig, clean_texts
from sentiment_pipeline.inference.tokenizer import (
    ALWAYS_GRAM,
    OOV_ID,
    PAD_ID,
    TweetTokenizer,
    _encode,
    char_ngrams,
    word_bigrams,
)

TRAIN = [["good", "day"], ["bad", "day"], ["good", "good", "film"], ["not", "good"], ["bad"]]


def test_fit_is_deterministic_and_ranked_by_frequency():
    first = TweetTokenizer(min_count=1).fit(TRAIN)
    second = TweetTokenizer(min_count=1).fit(list(reversed(TRAIN)))
    assert first.word_index == second.word_index
    assert first.word_index["good"] == 2  # most frequent word gets the first id after pad/oov
    assert TweetTokenizer(min_count=2).fit(TRAIN).word_index.keys() == {"good", "day", "bad"}
    with pytest.raises(ValueError, match=r"no word occurs at least min_count=100 times in the 5 training texts"):
        TweetTokenizer(min_count=100).fit(TRAIN)


def test_encode_pads_truncates_and_marks_unknown_words():
    tokenizer = TweetTokenizer(min_count=1, max_len=3).fit(TRAIN)
    encoded = tokenizer.encode_tokens([["good"], ["unseen", "good", "day", "bad"]])
    words = encoded["words"]
    assert words.shape == (2, 3) and words.dtype == np.int32
    assert list(words[0]) == [tokenizer.word_index["good"], PAD_ID, PAD_ID]
    assert words[1][0] == OOV_ID
    assert encoded["ngrams"].shape == (2, 6)
    assert encoded["chars"].shape == (2, tokenizer.char_len)
    assert word_bigrams(["a", "b", "c"]) == ["a", "b", "c", "a b", "b c"]


def test_character_ngrams_cover_words_but_not_placeholders():
    grams = char_ngrams(["not", "xxurl"])
    assert grams[0] == ALWAYS_GRAM
    assert {"<n", "no", "ot", "t>", "<no", "not>", "<not>"} <= set(grams)
    assert not any("xx" in gram for gram in grams)  # a URL placeholder is a word id, not spelling
    # a tweet of placeholders only still has a non-empty bag (an all-padding bag averages to NaN)
    tokenizer = TweetTokenizer(min_count=1).fit(TRAIN + [["xxurl"]])
    assert tokenizer.encode_tokens([["xxurl"]])["chars"][0][0] == tokenizer.char_index[ALWAYS_GRAM]


def test_misspelt_words_share_character_ngrams_with_the_known_spelling():
    tokenizer = TweetTokenizer(min_count=1).fit(TRAIN)
    [words, chars] = (tokenizer.encode_tokens([["goood"]])[key][0] for key in ("words", "chars"))
    assert words[0] == OOV_ID  # unknown as a word ...
    known = {tokenizer.char_index[g] for g in ("<g", "go", "oo", "od", "d>", "<go", "ood", "od>")}
    assert known <= set(chars)  # ... but most of its spelling is known


def test_version_1_files_still_load_without_character_ngrams():
    tokenizer = TweetTokenizer(min_count=1).fit(TRAIN)
    data = json.loads(tokenizer.to_json())
    for key in ("char_index", "max_chargrams", "char_len"):
        del data[key]
    data["version"] = 1
    old = TweetTokenizer.from_json(json.dumps(data))
    assert set(old.encode(["good day"])) == {"words", "ngrams"}
    assert np.array_equal(old.encode(["good day"])["words"], tokenizer.encode(["good day"])["words"])


def test_json_round_trip_keeps_cleaning_and_gives_identical_encodings():
    tokenizer = TweetTokenizer(cleaning=CleaningConfig(stemmer="snowball"), min_count=1, max_len=5).fit(TRAIN)
    text = tokenizer.to_json()
    assert json.loads(text)["format"] == "sentiment-pipeline/tokenizer"
    loaded = TweetTokenizer.from_json(text)
    assert loaded.cleaning == tokenizer.cleaning
    raw = ["Good films!", "not a good day @bob"]
    for key in ("words", "ngrams", "chars"):
        assert np.array_equal(loaded.encode(raw)[key], tokenizer.encode(raw)[key])


def test_rejects_foreign_files_and_unfitted_use():
    with pytest.raises(ValueError, match="not a sentiment-pipeline/tokenizer"):
        TweetTokenizer.from_json(json.dumps({"word_index": {}}))
    with pytest.raises(ValueError, match="not fitted"):
        TweetTokenizer().encode(["hi"])


@pytest.mark.parametrize("char_len", [256, 12])
def test_cached_character_ids_encode_exactly_the_character_ngrams(char_len):
    """The per-word id cache gives what encoding ``char_ngrams`` did, truncation and placeholders included."""
    texts = ["Sooo happy today!!! http://x.co @bob", "happy happy joy", "the worst day ever :(", "x", "5pm at 5"]
    tokens = clean_texts(texts)
    tokenizer = TweetTokenizer(min_count=1, char_len=char_len).fit(tokens[:2])  # later texts have unseen grams
    expected = _encode((char_ngrams(t) for t in tokens), tokenizer.char_index, char_len)
    assert np.array_equal(tokenizer.encode_tokens(tokens)["chars"], expected)
    assert np.array_equal(tokenizer.encode_tokens(tokens)["chars"], expected)  # again, from the cache
    refitted = tokenizer.fit(tokens[2:])  # a new index must not answer from the old index's cache
    assert np.array_equal(
        refitted.encode_tokens(tokens)["chars"],
        _encode((char_ngrams(t) for t in tokens), refitted.char_index, char_len),
    )

import pytest

from sentiment_pipeline.inference.cleaning import (
    NUMBER_TOKEN,
    URL_TOKEN,
    USER_TOKEN,
    CleaningConfig,
    clean_texts,
    clean_tokens,
)


def test_negations_survive_and_contractions_are_spelled_out():
    assert clean_tokens("I don't like it") == ["i", "do", "not", "like", "it"]
    assert clean_tokens("can't") == ["can", "not"]
    assert clean_tokens("won't") == ["will", "not"]
    assert clean_tokens("dont go") == ["do", "not", "go"]
    assert "no" in clean_tokens("no way", CleaningConfig(remove_stop_words=True))
    assert "not" in clean_tokens("this is not good", CleaningConfig(remove_stop_words=True))


def test_tweet_specific_normalisation():
    tokens = clean_tokens("@Bob see https://t.co/abc at 10:30 2nd ****")
    assert tokens[0] == USER_TOKEN
    assert URL_TOKEN in tokens and tokens.count(NUMBER_TOKEN) == 2
    assert "xxcensored" in tokens
    assert clean_tokens("Sooooo HAPPY :)") == ["sooo", "happy", ":)"]


def test_backtick_apostrophe_as_in_the_dataset():
    assert clean_tokens("I`m sad, it didn`t work") == clean_tokens("I'm sad, it didn't work")


def test_stemming_and_stop_words_are_optional_and_spare_placeholders():
    config = CleaningConfig(stemmer="porter", remove_stop_words=True)
    assert clean_tokens("the running dogs @x", config) == ["run", "dog", USER_TOKEN]
    assert clean_tokens("the running dogs") == ["the", "running", "dogs"]


def test_bounded_work_and_bad_types():
    assert len(clean_tokens("word " * 100_000)) == 1000  # 5000 chars max -> 1000 words
    assert clean_tokens("") == [] and clean_tokens("   ") == []
    with pytest.raises(TypeError):
        clean_tokens(None)
    with pytest.raises(ValueError):
        CleaningConfig(stemmer="lancaster")


def test_clean_texts_matches_one_by_one():
    texts = ["good day", "bad day :(", "@a http://x.y"]
    assert clean_texts(texts) == [clean_tokens(t) for t in texts]


@pytest.fixture(scope="module")
def shared_tweets() -> list[str]:
    import csv

    from support.project import SHARED_DATA

    with SHARED_DATA.open(encoding="utf-8", newline="") as file:
        return [row["text"] for _, row in zip(range(4000), csv.DictReader(file), strict=False)]


def test_case_is_lowered_exactly_as_nltk_lowers_it(shared_tweets):
    """The serving speed-up keeps NLTK's rule: every token lower-cased except emoticons (":D" stays)."""
    from nltk.tokenize import TweetTokenizer

    from sentiment_pipeline.inference.cleaning import _lower

    nltk_lowering = TweetTokenizer(preserve_case=False, reduce_len=True, strip_handles=False)
    keeping_case = TweetTokenizer(preserve_case=True, reduce_len=True, strip_handles=False)
    texts = [*shared_tweets, "LOL :D so FUNNY XD", "Happy :-P DAY", "ÉTÉ À PARIS <3 :-)", "I ❤ NY ;P"]
    for text in texts:
        assert _lower(keeping_case.tokenize(text)) == nltk_lowering.tokenize(text), text
    assert _lower(keeping_case.tokenize("LOL :D")) == ["lol", ":D"]

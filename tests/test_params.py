import pytest

from sentiment_pipeline.params import DEFAULTS, ParamError, parse_overrides, resolve


def test_overrides_take_the_type_of_the_default():
    assert parse_overrides(["epochs=3", "learning_rate=0.01", "remove_stop_words=yes", "stemmer=porter"]) == {
        "epochs": 3,
        "learning_rate": 0.01,
        "remove_stop_words": True,
        "stemmer": "porter",
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [(["epoch=3"], "unknown parameter 'epoch'"), (["epochs=three"], "not a valid int"), (["epochs"], "not key=value")],
)
def test_bad_overrides_are_errors(pairs, message):
    with pytest.raises(ParamError, match=message):
        parse_overrides(pairs)


def test_resolve_checks_ranges_and_records_everything():
    assert resolve() == DEFAULTS
    with pytest.raises(ParamError, match="dropout"):
        resolve({"dropout": 1.5})
    with pytest.raises(ParamError, match="epochs"):
        resolve({"epochs": 0})

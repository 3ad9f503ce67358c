"""Report figures stay bounded whatever one row holds."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from sentiment_pipeline.training.plots import MAX_WORD_BINS, data_profile  # noqa: E402


def test_one_huge_text_does_not_make_a_bin_per_word():
    """A pasted 1 MB "tweet" (200,000 words) once made a 200,000-bin histogram: 10 minutes, 6 GB, killed."""
    texts = [f"tweet {i} is fine" for i in range(30)] + ["word " * 200_000]
    labels = ["negative", "neutral", "positive"] * 10 + ["neutral"]
    figure = data_profile(pd.DataFrame({"text": texts, "label_text": labels}))
    words = figure.axes[1]
    assert len(words.patches) <= 3 * (MAX_WORD_BINS + 1)  # one histogram per label
    assert "or more" in words.get_xlabel()

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


def test_the_training_curves_legend_sits_below_the_plots_not_on_the_curves():
    from sentiment_pipeline.training.plots import training_curves

    member = {"loss": [1.0, 0.8], "val_loss": [0.9, 0.7], "val_macro_f1": [0.7, 0.8], "best_epoch": 2}
    figure = training_curves({"members": [member] * 4, "val_macro_f1": 0.82})
    figure.canvas.draw()
    assert all(axis.get_legend() is None for axis in figure.axes)  # nothing drawn inside the axes
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels[:4] == ["member 1", "member 2", "member 3", "member 4"] and "kept epoch" in labels
    renderer = figure.canvas.get_renderer()
    legend_top = legend.get_window_extent(renderer).y1
    assert all(legend_top <= axis.get_tightbbox(renderer).y0 + 1 for axis in figure.axes)  # below, x labels too

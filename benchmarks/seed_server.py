"""The seed recipe's way of serving, for comparison only: FastAPI + uvicorn, `model.predict` per request.

MODEL_DIR=<run>/model uvicorn benchmarks.seed_server:app --port 8001
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pydantic import BaseModel

from sentiment_pipeline.training.keras_predictor import load_keras_predictor

predictor = load_keras_predictor(os.environ["MODEL_DIR"])  # same model, same cleaning: only the serving style differs
app = FastAPI()


class Item(BaseModel):
    text: str


@app.post("/predict")
def predict(item: Item) -> dict:
    inputs = predictor.tokenizer.encode([item.text])
    scores = predictor.model.keras_model.predict(inputs, verbose=0)[0]
    return {
        "label": predictor.labels[int(scores.argmax())],
        "scores": {label: float(p) for label, p in zip(predictor.labels, scores, strict=True)},
    }

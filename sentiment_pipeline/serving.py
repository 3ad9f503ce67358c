"""What the BentoML service needs besides BentoML: request limits, response shape, model loading.

Kept out of ``service.py`` so it is unit-testable and so the service file stays a screenful.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

MAX_TEXT_CHARS = 2_000  # tweets are at most 280 characters; this leaves room for pasted text
MAX_BATCH_TEXTS = 256  # per /predict_batch request; one compiled call handles this in ~10 ms


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("text must contain at least one non-whitespace character")
    return text


Text = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TEXT_CHARS, description=f"a tweet, 1 to {MAX_TEXT_CHARS} characters"),
    AfterValidator(_not_blank),
]
Texts = Annotated[
    list[Text],
    Field(min_length=1, max_length=MAX_BATCH_TEXTS, description=f"1 to {MAX_BATCH_TEXTS} tweets"),
]


class Prediction(BaseModel):
    label: str = Field(description="negative, neutral or positive")
    scores: dict[str, float] = Field(description="probability per label")
    model: str = Field(description="BentoML model tag that answered")


class SentimentPredictor:
    """The run's model folder behind the package's own fast predictor (same cleaning as training)."""

    def __init__(self, model_dir: str, tag: str) -> None:
        from .model import load_predictor

        self.tag = tag
        self.predictor = load_predictor(model_dir)
        self.predictor.predict_proba(["warm up the compiled function"])  # first call traces the graph

    def predict(self, texts: list[str]) -> list[Prediction]:
        return [Prediction(**p, model=self.tag) for p in self.predictor.predict(texts)]


class JsonOnlyMiddleware:
    """Answer 415 to a POST whose body is not declared JSON.

    The API is JSON-only; without this, BentoML hands form and multipart bodies to other parsers, where a
    malformed multipart request ends as a 500 (schemathesis found it) and a form body is half-accepted.
    """

    def __init__(self, app, paths: tuple[str, ...] = ("/predict", "/predict_batch")) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            headers = dict(scope.get("headers") or [])
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media_type not in (b"application/json", b""):
                body = b'{"error": "send the request body as JSON with Content-Type: application/json"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

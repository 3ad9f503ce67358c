"""A small synthetic, tweet-like labelled dataset so the default run needs no download and no cloud.

Made from templates with a fixed seed: handles, URLs, numbers, emoticons, misspellings and negations
("not bad", "don't love") exercise the same cleaning paths real tweets do.
"""

from __future__ import annotations

import csv
import io
import random

_SUBJECTS = [
    "the new phone",
    "this weather",
    "my morning coffee",
    "the concert",
    "our team",
    "the train",
    "my exam",
    "the movie",
    "this update",
    "the pizza place",
    "work today",
    "the beach trip",
    "my new job",
    "the traffic",
    "this song",
    "the hotel",
    "my laptop",
    "the game last night",
]
_POSITIVE = [
    "is amazing",
    "was so much fun",
    "made my day",
    "is the best",
    "was awesome",
    "is sooo good",
    "was not bad at all",
    "exceeded my expectations",
    "was lovely",
    "is great, thank you",
]
_NEGATIVE = [
    "is terrible",
    "was a disaster",
    "ruined my day",
    "is the worst",
    "was sooo boring",
    "is not good at all",
    "made me so sad",
    "was awful",
    "keeps crashing, I hate it",
    "is broken again",
]
_NEUTRAL = [
    "starts at {n}pm",
    "is on channel {n}",
    "was moved to tuesday",
    "is what I'm doing now",
    "is next to the station",
    "has {n} new episodes",
    "opens at {n} tomorrow",
    "is in the news",
    "was mentioned at the meeting",
    "will be here on friday",
]
_OPENERS = ["", "", "omg ", "ok so ", "honestly ", "@{user} ", "just saw that ", "fyi "]
_POSITIVE_TAILS = ["", " :)", " !!", " <3", " #happy", " love it", " http://t.co/{code}"]
_NEGATIVE_TAILS = ["", " :(", " ...", " #fail", " ugh", " don't even ask", " http://t.co/{code}"]
_NEUTRAL_TAILS = ["", "", " http://t.co/{code}", " #news", " via @{user}"]
_USERS = ["anna", "bob_k", "newsdesk", "mike22", "coffeeshop", "team_lead"]


def _tweet(rng: random.Random, body: list[str], tails: list[str]) -> str:
    text = rng.choice(_OPENERS) + rng.choice(_SUBJECTS) + " " + rng.choice(body) + rng.choice(tails)
    return text.format(user=rng.choice(_USERS), n=rng.randint(1, 12), code=rng.randbytes(4).hex())


def sample_csv(rows_per_label: int = 100, seed: int = 7) -> bytes:
    """``text,label_text`` CSV bytes with ``rows_per_label`` rows of each class, shuffled."""
    rng = random.Random(seed)
    rows = [(_tweet(rng, _POSITIVE, _POSITIVE_TAILS), "positive") for _ in range(rows_per_label)]
    rows += [(_tweet(rng, _NEGATIVE, _NEGATIVE_TAILS), "negative") for _ in range(rows_per_label)]
    rows += [(_tweet(rng, _NEUTRAL, _NEUTRAL_TAILS), "neutral") for _ in range(rows_per_label)]
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "label_text"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")

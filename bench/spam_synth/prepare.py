"""Prepare hook of the benchmark's synthetic spam assignment: SMS-like messages made up with numpy.

No raw source file is needed, so the benchmark runs on any machine. The shape follows the SMS
Spam Collection (5,574 short messages, 13.4% spam; spam longer, with money, prizes, phone
numbers and short codes), and the classes overlap (shared vocabulary, ham that mentions prizes,
spam written in plain words, 0.5% flipped labels), so a TF-IDF + logistic regression model scores
an F1 around 0.9 rather than 1.0. Everything is drawn from ``numpy.random.default_rng(seed)``:
the same seed gives the same bytes.

Writes ``inputs/train.csv`` (id,text,label), ``inputs/test.csv`` (id,text),
``hidden/test_labels.csv`` (id,label), ``hidden/baselines.json`` and ``kit/train.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

N_MESSAGES = 5574
SPAM_SHARE = 0.134
TEST_SHARE = 0.2
LABEL_NOISE = 0.005

HAM_WORDS = (
    "ok lol home later tonight dinner love you u ur im gonna sorry meet tmr morning see ya thanks "
    "haha wat going sleep work class mum dad bus late coming now hey babe miss what when where lunch "
    "film pick call me back text when free yeah sure cool nite good day hope fine da lor"
).split()
SPAM_WORDS = (
    "free win winner prize claim cash urgent award guaranteed txt reply stop mobile offer bonus "
    "selected congratulations voucher entry draw ringtone tone subscription chat dating apply "
    "customer service final attempt contact valid expires pobox landline"
).split()
SYLLABLES = "ka lo mi ne ra to shu vi be da gu po ze fi ha je ku la mo ni ru sa te wo".split()


def _pseudo_words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct made-up words (2-4 syllables): the long tail of an SMS vocabulary."""
    words: set[str] = set()
    while len(words) < n:
        k = int(rng.integers(2, 5))
        words.add("".join(rng.choice(SYLLABLES, size=k)))
    return sorted(words)


def _spam_token(rng: np.random.Generator) -> str:
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return "0" + "".join(str(d) for d in rng.integers(0, 10, size=10))  # phone number
    if kind == 1:
        return f"£{int(rng.choice([100, 250, 500, 1000, 2000, 5000]))}"
    if kind == 2:
        return str(int(rng.integers(10000, 90000)))  # short code
    return f"{int(rng.integers(1, 9)) * 50}p/min"


def _message(rng: np.random.Generator, spam: bool, base: Sequence[str], weights: np.ndarray) -> str:
    """One message: mostly background words, plus class-typical words at a class-specific rate."""
    length = max(2, int(rng.lognormal(3.0 if spam else 2.3, 0.35)))
    typical, rate = (SPAM_WORDS, 0.4) if spam else (HAM_WORDS, 0.35)
    if not spam and rng.random() < 0.03:  # ham that sounds like spam ("did u win the draw?")
        typical, rate = SPAM_WORDS, 0.2
    if spam and rng.random() < 0.06:  # spam in plain words
        typical, rate = HAM_WORDS, 0.3
    draws = rng.random(length)
    background = rng.choice(len(base), size=length, p=weights)
    words = []
    for draw, index in zip(draws, background):
        if spam and draw < 0.08:
            words.append(_spam_token(rng))
        elif draw < rate:
            words.append(str(rng.choice(typical)))
        else:
            words.append(base[int(index)])
    text = " ".join(words)
    if spam and rng.random() < 0.5:
        text = text.upper() if rng.random() < 0.3 else text.capitalize() + "!"
    return text


def generate(seed: int) -> list[tuple[str, str, str]]:
    """``(id, text, label)`` for every message, in generation order."""
    rng = np.random.default_rng(seed)
    base = _pseudo_words(rng, 4000) + HAM_WORDS + SPAM_WORDS
    ranks = np.arange(1, len(base) + 1, dtype=float)
    weights = 1.0 / ranks**1.05  # Zipf-like frequencies
    weights /= weights.sum()
    order = rng.permutation(len(base))
    shuffled = [base[i] for i in order]
    rows = []
    for i in range(N_MESSAGES):
        spam = bool(rng.random() < SPAM_SHARE)
        text = _message(rng, spam, shuffled, weights)
        if rng.random() < LABEL_NOISE:
            spam = not spam
        ident = "s" + hashlib.sha256(f"spam_synth:{i}".encode()).hexdigest()[:10]
        rows.append((ident, text, "spam" if spam else "ham"))
    return rows


def split(
    rows: Sequence[tuple[str, str, str]], seed: int
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """A stratified split; both parts sorted by id (row order reveals nothing)."""
    rng = np.random.default_rng(seed + 1)
    train, test = [], []
    for label in ("ham", "spam"):
        group = [r for r in rows if r[2] == label]
        chosen = set(rng.permutation(len(group))[: round(len(group) * TEST_SHARE)].tolist())
        for i, row in enumerate(group):
            (test if i in chosen else train).append(row)
    return sorted(train), sorted(test)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def all_ham_scores(test: Sequence[tuple[str, str, str]]) -> dict[str, float]:
    ham = sum(r[2] == "ham" for r in test)
    return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "accuracy": round(ham / len(test), 6), "balanced_accuracy": 0.5}


def prepare(sources: dict[str, Path], out: Any, seed: int) -> None:
    """``sources`` is empty: everything is generated from ``seed``."""
    train, test = split(generate(seed), seed)
    write_csv(out.inputs / "train.csv", ("id", "text", "label"), train)
    write_csv(out.inputs / "test.csv", ("id", "text"), [(i, t) for i, t, _ in test])
    write_csv(out.hidden / "test_labels.csv", ("id", "label"), [(i, lab) for i, _, lab in test])
    write_csv(out.kit / "train.csv", ("id", "text", "label"), train)
    baselines = {"all_ham": all_ham_scores(test)}
    (out.hidden / "baselines.json").write_text(json.dumps(baselines, indent=2, sort_keys=True) + "\n", encoding="utf-8")

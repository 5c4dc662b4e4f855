"""Answer metrics of the ``rag`` grader: token F1, exact match, yes/no polarity, containment.

Pure functions over strings (no ragas), written so that no answer can score by hedging or by
padding. Every answer and reference is first normalised the SQuAD way (:func:`normalise_answer`)
and split on whitespace; only the first ``max_words`` words of an answer are read.

For a question and its references (the best reference counts, as in SQuAD):

- ``answer_f1`` (the primary answer metric): token F1, the harmonic mean of precision (the share
  of the answer's words that are in the reference) and recall (the share of the reference's words
  that are in the answer), counting repeated words as often as both sides hold them. Padding an
  answer lowers precision, so a long answer that happens to hold the reference scores little.
- ``exact_match``: 1 when the normalised answer equals a normalised reference.
- ``answer_containment`` (secondary): 1 when a reference appears, as whole consecutive words, in
  the answer, times ``min(1, reference words / answer words)``. The length factor is the
  precision of a containing answer, so this figure is never above ``answer_f1``; without it,
  pasting many candidate answers (or "yes no") into one answer would pay.

Yes/no questions are scored by polarity. The polarity of a text is read from the two words
``yes`` and ``no`` (whole words, after normalisation, anywhere in the scored words): exactly one
of them present gives that polarity; both (a hedge such as "Yes no ...") or neither ("It is
not.") give none. Negations (``not``, ``never``, ``n't``) are deliberately not read, so
"No, it is not" is a no and "Yes, it is" a yes, while "Yes, there is no record" names both and
is no answer. A yes/no question whose references state a polarity (most do; some students wrote
a sentence instead) scores 1 on all three metrics when the answer's polarity is one of the
references' polarities and 0 otherwise: the polarity is the whole content of such an answer, and
a one-word negation would otherwise cost only one token of F1. A yes/no question whose
references state no polarity is scored like an open question, except that an answer saying
both words still scores 0 there: on a yes/no question a hedge never pays.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ARTICLES = frozenset({"a", "an", "the"})
Polarity = Literal["yes", "no"]
POLARITIES: tuple[Polarity, ...] = ("yes", "no")
ANSWER_METRICS = ("exact_match", "answer_f1", "answer_containment")


def normalise_answer(text: str) -> str:
    """SQuAD-style: NFKC, lower case, punctuation to spaces, articles dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    words = re.sub(r"[^\w\s]|_", " ", text).split()
    return " ".join(w for w in words if w not in ARTICLES)


def answer_tokens(text: str, max_words: int | None = None) -> list[str]:
    """The normalised words of ``text``, the first ``max_words`` of them when given."""
    words = normalise_answer(text).split()
    return words if max_words is None else words[:max_words]


def exact_match(answer: Sequence[str], reference: Sequence[str]) -> float:
    """1.0 when the two token lists are equal and not empty."""
    return float(bool(answer) and list(answer) == list(reference))


def token_f1(answer: Sequence[str], reference: Sequence[str]) -> float:
    """SQuAD token F1 of two token lists; 0.0 when either is empty or they share no word."""
    common = sum((Counter(answer) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(answer), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def contains(answer: Sequence[str], reference: Sequence[str]) -> bool:
    """Whether ``reference`` occurs in ``answer`` as consecutive whole tokens."""
    n = len(reference)
    if n == 0 or n > len(answer):
        return False
    first = reference[0]
    return any(answer[i] == first and list(answer[i : i + n]) == list(reference) for i in range(len(answer) - n + 1))


def penalised_containment(answer: Sequence[str], reference: Sequence[str]) -> float:
    """``contains(answer, reference) × min(1, len(reference) / len(answer))``."""
    if not contains(answer, reference):
        return 0.0
    return min(1.0, len(reference) / len(answer))


def stated_polarities(tokens: Sequence[str]) -> tuple[Polarity, ...]:
    """Which of the words ``yes`` and ``no`` are among ``tokens``, in that order."""
    words = set(tokens)
    return tuple(p for p in POLARITIES if p in words)


def polarity(tokens: Sequence[str]) -> Polarity | None:
    """``"yes"`` or ``"no"`` when exactly one of the two words is among ``tokens``; else None."""
    stated = stated_polarities(tokens)
    return stated[0] if len(stated) == 1 else None


@dataclass(frozen=True)
class AnswerScore:
    """The answer metrics of one question, and how they were reached."""

    exact_match: float = 0.0
    answer_f1: float = 0.0
    answer_containment: float = 0.0
    by_polarity: bool = False
    """True when the polarity rule decided the score (a yes/no question whose references state a
    polarity, or whose answer says both yes and no)."""
    stated: tuple[Polarity, ...] = ()
    """Which of yes/no the answer says (only read for questions scored by polarity)."""

    @property
    def polarity(self) -> Polarity | None:
        return self.stated[0] if len(self.stated) == 1 else None

    def as_dict(self) -> dict[str, float]:
        return {
            "exact_match": self.exact_match,
            "answer_f1": self.answer_f1,
            "answer_containment": self.answer_containment,
        }


def reference_polarities(references: Sequence[str]) -> set[Polarity]:
    """The polarities the references state (empty when none states one)."""
    return {p for r in references if (p := polarity(answer_tokens(r))) is not None}


def score_answer(answer: str, references: Sequence[str], *, yes_no: bool, max_words: int) -> AnswerScore:
    """The answer metrics of one question: best over ``references``; see the module docstring."""
    tokens = answer_tokens(answer, max_words)
    if yes_no:
        stated, wanted = stated_polarities(tokens), reference_polarities(references)
        if wanted or len(stated) == 2:
            right = float(len(stated) == 1 and stated[0] in wanted)
            return AnswerScore(right, right, right, by_polarity=True, stated=stated)
    if not tokens:
        return AnswerScore()
    refs = [t for r in references if (t := answer_tokens(r))]
    return AnswerScore(
        exact_match=max((exact_match(tokens, r) for r in refs), default=0.0),
        answer_f1=max((token_f1(tokens, r) for r in refs), default=0.0),
        answer_containment=max((penalised_containment(tokens, r) for r in refs), default=0.0),
    )

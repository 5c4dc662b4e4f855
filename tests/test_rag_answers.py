"""The ``rag`` grader's answer metrics (graders/rag_answers.py): token F1, exact match, yes/no
polarity and length-penalised containment, and the property issue 13 asks for: a hedging or
padding answer never scores above the same answer without the trick. Pure Python, no ragas."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from graders.rag_answers import (
    AnswerScore,
    answer_tokens,
    contains,
    exact_match,
    penalised_containment,
    polarity,
    reference_polarities,
    score_answer,
    token_f1,
)


def score(answer: str, references: list[str], yes_no: bool = False, max_words: int = 50) -> AnswerScore:
    return score_answer(answer, references, yes_no=yes_no, max_words=max_words)


# --- the building blocks ----------------------------------------------------------------------


def test_tokens_are_normalised_and_capped():
    assert answer_tokens("The Eucalyptus-leaves, an apple!") == ["eucalyptus", "leaves", "apple"]
    assert answer_tokens("Ｆｕｌｌ width") == ["full", "width"]
    assert answer_tokens("one two three four", max_words=2) == ["one", "two"]


def test_token_f1_is_squad_f1():
    assert token_f1(["sheep", "gut"], ["sheep", "gut"]) == 1.0
    # 2 shared of 4 answer words (precision 1/2) and of 2 reference words (recall 1): 2/3
    assert token_f1(["made", "of", "sheep", "gut"], ["sheep", "gut"]) == pytest.approx(2 / 3)
    # repeated words count only as often as both sides hold them
    assert token_f1(["gut", "gut", "gut"], ["sheep", "gut"]) == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert token_f1(["cat"], ["dog"]) == 0.0
    assert token_f1([], ["dog"]) == 0.0 and token_f1(["dog"], []) == 0.0


def test_exact_match_needs_equal_non_empty_tokens():
    assert exact_match(["sheep", "gut"], ["sheep", "gut"]) == 1.0
    assert exact_match(["sheep"], ["sheep", "gut"]) == 0.0
    assert exact_match([], []) == 0.0


def test_containment_is_whole_consecutive_words_times_a_length_penalty():
    assert contains(["in", "kenya", "africa"], ["kenya"]) and not contains(["i", "know"], ["no"])
    assert not contains(["gut", "sheep"], ["sheep", "gut"])  # order matters
    assert not contains(["gut"], ["sheep", "gut"])
    assert penalised_containment(["kenya"], ["kenya"]) == 1.0
    assert penalised_containment(["in", "kenya", "east", "africa"], ["kenya"]) == pytest.approx(1 / 4)
    assert penalised_containment(["nairobi"], ["kenya"]) == 0.0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Yes", "yes"),
        ("yes.", "yes"),
        ("No", "no"),
        ("No, it is not.", "no"),
        ("Yes, it is", "yes"),
        ("No, there is no record", "no"),  # the same word twice is one polarity
        ("Yes no", None),
        ("Yes, there is no record", None),
        ("yes/no", None),  # both: a hedge
        ("It is not.", None),
        ("I know", None),
        ("", None),  # neither ("know" is not "no"; "not" is not read)
    ],
)
def test_polarity(text, expected):
    assert polarity(answer_tokens(text)) == expected


def test_reference_polarities_ignore_references_that_state_none():
    assert reference_polarities(["Yes.", "Berlin is the capital city of Germany."]) == {"yes"}
    assert reference_polarities(["no", "Yes."]) == {"yes", "no"}  # the students disagree: either counts
    assert reference_polarities(["Some butterflies make sounds."]) == set()


# --- one question -----------------------------------------------------------------------------


def test_yes_no_question_is_scored_by_polarity_on_every_answer_metric():
    refs = ["Alessandro Volta was not a professor of chemistry.", "No"]
    assert score("No, he was a physicist.", refs, yes_no=True).as_dict() == {
        "exact_match": 1.0,
        "answer_f1": 1.0,
        "answer_containment": 1.0,
    }
    wrong = score("Alessandro Volta was a professor of chemistry.", refs, yes_no=True)  # F1 0.93 against the sentence
    assert wrong.as_dict() == {"exact_match": 0.0, "answer_f1": 0.0, "answer_containment": 0.0}
    assert wrong.by_polarity and wrong.stated == ()
    hedge = score("Yes no", refs, yes_no=True)
    assert hedge.answer_f1 == 0.0 and hedge.stated == ("yes", "no") and hedge.polarity is None


def test_polarity_is_read_in_the_scored_words_only():
    assert score("Yes " + "word " * 60 + "no", ["yes"], yes_no=True, max_words=50).answer_f1 == 1.0


def test_yes_no_question_without_a_polar_reference_is_scored_by_words_but_a_hedge_still_scores_0():
    result = score("Some butterflies make sounds", ["Some butterflies make sounds."], yes_no=True)
    assert not result.by_polarity and result.exact_match == 1.0 and result.answer_f1 == 1.0
    hedge = score("yes no", ["Yes and no: it depends."], yes_no=True)  # that reference states no single polarity
    assert hedge.by_polarity and hedge.answer_f1 == 0.0 and hedge.stated == ("yes", "no")
    assert score("yes no", ["Yes and no: it depends."], yes_no=False).answer_f1 > 0  # an open question: plain words


def test_open_question_takes_the_best_reference():
    result = score("sheep gut", ["Strings were first made of sheep gut.", "Sheep gut"])
    assert result.as_dict() == {"exact_match": 1.0, "answer_f1": 1.0, "answer_containment": 1.0}
    assert score("", ["Sheep gut"]).as_dict() == {"exact_match": 0.0, "answer_f1": 0.0, "answer_containment": 0.0}
    assert score("The.", ["a", "the"]).answer_f1 == 0.0  # references that normalise to nothing match nothing


def test_containment_is_never_above_f1():
    for answer in ("sheep gut", "strings of sheep gut", "made of sheep gut and later nylon", "gut"):
        result = score(answer, ["sheep gut"])
        assert result.answer_containment <= result.answer_f1


# --- gaming never pays ------------------------------------------------------------------------

QUESTIONS = [
    ("Is Berlin the capital of Germany?", ["Berlin is the capital city of Germany.", "yes"], True),
    ("Are cougars larger than jaguars?", ["Cougars are not larger than jaguars.", "no"], True),
    ("Were strings made of gut?", ["Yes."], True),
    ("Is the Red River Delta traditionally poor?", ["Not compared to Nghe An", "Yes."], True),
    ("Do butterflies make sounds?", ["Some butterflies make sounds."], True),
    ("What were strings first made out of?", ["Sheep Gut", "Sheep gut."], False),
    ("Where is Nairobi?", ["In Kenya"], False),
    ("Who invented the battery?", ["Alessandro Volta"], False),
]
HONEST = ["Yes", "No", "Yes", "No", "Some butterflies make sounds", "sheep gut", "Nairobi is in Kenya", "Volta"]


def mean(answers: list[str], metric: str) -> float:
    return sum(getattr(score(a, refs, yn), metric) for a, (_, refs, yn) in zip(answers, QUESTIONS)) / len(QUESTIONS)


@pytest.mark.parametrize("metric", ["answer_f1", "exact_match", "answer_containment"])
@pytest.mark.parametrize(
    "trick",
    [
        lambda a: "Yes no " + a,
        lambda a: "yes no",
        lambda a: a + " yes no",
        lambda a: "Yes. No. " + a,
        lambda a: a + " or Alessandro Volta, Kenya, sheep gut, yes, no",  # many candidates pasted into one answer
    ],
)
def test_a_trick_never_beats_the_honest_answers(metric, trick):
    honest = mean(HONEST, metric)
    gamed = mean([trick(a) for a in HONEST], metric)
    assert gamed <= honest
    assert honest > 0.5


def test_yes_no_for_every_answer_scores_nothing_and_a_constant_yes_only_the_majority():
    assert mean(["yes no"] * len(QUESTIONS), "answer_f1") == 0.0
    # "Yes" is right on the three questions whose references say yes (one of them also says no)
    assert mean(["Yes"] * len(QUESTIONS), "answer_f1") == pytest.approx(3 / len(QUESTIONS))


# --- the same, for any answer (property) ------------------------------------------------------

WORDS = st.sampled_from(
    "koala eucalyptus leaves volta battery kenya nairobi sheep gut the a of in not never yes no".split()
)
PHRASE = st.lists(WORDS, min_size=0, max_size=12).map(" ".join)
HEDGES = st.sampled_from(["Yes no", "yes, no", "No. Yes.", "yes/no"])


@settings(max_examples=300, deadline=None)
@given(
    answer=PHRASE,
    references=st.lists(PHRASE, min_size=1, max_size=3),
    yes_no=st.booleans(),
    hedge=HEDGES,
    at_start=st.booleans(),
    max_words=st.integers(2, 20),
)
def test_hedging_never_raises_any_answer_metric(answer, references, yes_no, hedge, at_start, max_words):
    """Adding both "yes" and "no" to an answer never raises its F1, exact match or containment,
    whatever the answer and the references. Out of scope: references that hold "yes" or "no" as
    an open answer's content, and a hedge cut in half by the word cap (what is read then says
    only one of the two words: that is an answer, not a hedge)."""
    hedged = f"{hedge} {answer}" if at_start else f"{answer} {hedge}"
    assume(yes_no or not any({"yes", "no"} & set(answer_tokens(r)) for r in references))
    assume(len(answer_tokens(hedged)) <= max_words)
    honest = score(answer, references, yes_no, max_words)
    gamed = score(hedged, references, yes_no, max_words)
    for metric in ("answer_f1", "exact_match", "answer_containment"):
        assert getattr(gamed, metric) <= getattr(honest, metric) + 1e-12, metric

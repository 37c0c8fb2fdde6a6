"""The dataset builder's split by content: the same question answered the same way (case, whitespace and
punctuation aside) is never on both sides, whatever sessions it comes from (the eval copy is left out, the
training split keeps its twin); and the held-out minimum of well-rated and badly rated answers
(lambdas/common/training_data.py content_key, build_dataset, Dataset.require_eval_rows)."""

from __future__ import annotations

import json
import random

import pytest

from lambdas.common.training_data import DatasetError, DatasetOptions, build_dataset, content_key, split_sessions
from tests.lambdas.common.test_training_data import line, many_sessions
from tests.lambdas.common.test_training_data_thumbs import THUMBS_FILE, thumb_line

FAQ = [("How do I reset my password?", "Open Settings, choose Password, then Reset.", 5),
       ("Where is my invoice?", "Invoices are under Billing > Invoices.", 5),
       ("Can I get a refund?", "No idea, sorry.", 1),
       ("Why is my card declined?", "Call your bank. We cannot help.", 1)]


def _respelled(text: str, rng: random.Random) -> str:
    """The same words as a person or a model may write them again: other case, spacing and punctuation."""
    words = text.split()
    words = [word.upper() if rng.random() < 0.2 else word.lower() if rng.random() < 0.2 else word for word in words]
    text = ("  " if rng.random() < 0.3 else " ").join(words)
    if rng.random() < 0.5:
        text = text.rstrip("?.!") + rng.choice(["", "!", " ?", "..."])
    return text.replace(",", rng.choice([",", "", " ,"]))


def _faq_dataset(seed: int, sessions: int = 300, **options):
    """Sessions of one to three turns, about half of them a frequently asked question answered the same way
    as in other sessions (written a little differently each time), the rest a question of their own."""
    rng = random.Random(seed)
    ratings, thumbs = [], []
    for s in range(sessions):
        for t in range(rng.randint(1, 3)):
            if rng.random() < 0.5:
                question, answer, rating = rng.choice(FAQ)
                question, answer = _respelled(question, rng), _respelled(answer, rng)
            else:
                question, answer, rating = f"Question {s}/{t}?", f"Answer {s}/{t}.", rng.choice([1, 5])
            if rng.random() < 0.1:  # a customer's thumb instead of an expert's rating
                thumbs.append(thumb_line(f"s{s:03d}", f"t{t}", "up" if rating == 5 else "down", question=question,
                                         answer=answer))
            else:
                ratings.append(line(f"s{s:03d}", f"t{t}", rating, question=question, answer=answer,
                                    ratings=[{"worker_id": "w1", "value": rating}], agreement=1.0))
    return build_dataset([("ratings/a.jsonl", ratings)], DatasetOptions(**options), [(THUMBS_FILE, thumbs)])


def _keys(split) -> set[str]:
    return ({content_key(row["prompt"], row["response"]) for row in split.reward}
            | {content_key(row["prompt"], row["completion"]) for row in split.kto})


def test_the_content_key_ignores_case_whitespace_and_punctuation_only():
    key = content_key("How do I reset my password?", "Open Settings, choose Password, then Reset.")
    assert content_key("how do I  reset my password", "OPEN SETTINGS choose password , then reset!") == key
    assert content_key("How do I reset my password?\u200b", "Open\u00a0Settings, choose Password, then Reset") == key
    assert content_key("How do I reset my password?", "Open Settings, choose Email, then Reset.") != key
    assert content_key("How do I reset my email?", "Open Settings, choose Password, then Reset.") != key


@pytest.mark.parametrize("seed", range(5))
def test_the_same_question_and_answer_is_never_on_both_sides(seed):
    dataset = _faq_dataset(seed, split_seed=f"seed-{seed}", min_eval_rows=0)

    assert dataset.train.reward and dataset.eval.reward
    assert not _keys(dataset.train) & _keys(dataset.eval)
    # Still split by session, and only the repeated questions and answers left the eval split.
    assert not dataset.train.sessions & dataset.eval.sessions
    report = dataset.to_report()["same_content"]
    assert report["eval_rows_left_out"] > 0 and 0 < report["keys"] <= len(FAQ)
    faq_keys = {content_key(question, answer) for question, answer, _ in FAQ}
    assert faq_keys & _keys(dataset.train) and not faq_keys & _keys(dataset.eval)


def test_a_held_out_answer_is_left_out_only_when_training_holds_the_same_one():
    # Two sessions, one a side (the small-data fix-up): the eval session repeats one training turn, written
    # differently, and has one turn of its own, and a customer's thumb on the repeated answer.
    (train_session,), (eval_session,) = split_sessions(["a", "b"], 0.5, "x")
    lines = [line(train_session, "t1", 5, question="Where is my invoice?", answer="Under Billing, Invoices."),
             line(eval_session, "t1", 1, question="where is my INVOICE", answer="under billing invoices!"),
             line(eval_session, "t2", 5, question="And my receipt?", answer="Also under Billing.")]
    thumbs = [thumb_line(eval_session, "t3", "up", question="Where is my invoice?", answer="Under Billing, Invoices.")]
    options = DatasetOptions(eval_fraction=0.5, split_seed="x", min_eval_rows=0)
    dataset = build_dataset([("ratings/a.jsonl", lines)], options, [(THUMBS_FILE, thumbs)])

    assert dataset.train.sessions == {train_session} and dataset.eval.sessions == {eval_session}
    assert [row["response"] for row in dataset.train.reward] == ["Under Billing, Invoices."]
    assert [row["response"] for row in dataset.eval.reward] == ["Also under Billing."]
    assert dataset.eval.kto == [row for row in dataset.eval.kto if row["completion"] == "Also under Billing."]
    assert dataset.to_report()["same_content"] == {"eval_rows_left_out": 1, "eval_thumbs_left_out": 1, "keys": 1}


# The held-out minimum ----------------------------------------------------------------------------------

def _rated(good: int, bad: int, **options):
    """good + bad sessions, every one held out but one (a fraction near 1): the eval split's counts are known."""
    lines = many_sessions(good, rating=5, prefix="g") + many_sessions(bad, rating=1, prefix="b")
    lines.append(line("train-only", "t1", 3))
    return build_dataset([("ratings/a.jsonl", lines)], DatasetOptions(eval_fraction=0.9999, **options))


def test_enough_well_rated_and_badly_rated_held_out_answers_pass():
    dataset = _rated(12, 12, min_eval_rows=10)
    counts = dataset.to_report()["splits"]["eval"]
    assert counts["reward_good"] >= 10 and counts["reward_bad"] >= 10
    dataset.require_eval_rows()  # no error


@pytest.mark.parametrize(("good", "bad"), [(9, 30), (30, 9), (0, 0)])
def test_too_few_of_either_side_stops_with_the_counts(good, bad):
    dataset = _rated(good, bad, min_eval_rows=10)
    counts = dataset.to_report()["splits"]["eval"]

    with pytest.raises(DatasetError) as raised:
        dataset.require_eval_rows()

    assert raised.value.field == "min_eval_rows"
    assert (f"the eval split has {counts['reward_good']} well-rated (rating >= 4) and {counts['reward_bad']} badly "
            "rated (rating <= 2) answers; the held-out measures need at least min_eval_rows=10 of each") in str(
        raised.value)


def test_the_default_minimum_is_ten_of_each_and_zero_turns_the_check_off():
    assert DatasetOptions().min_eval_rows == 10
    with pytest.raises(DatasetError, match="min_eval_rows=10"):
        _rated(30, 5).require_eval_rows()
    _rated(0, 0, min_eval_rows=0).require_eval_rows()


def test_the_report_counts_each_sides_rated_answers():
    report = _rated(3, 2, min_eval_rows=0).to_report()
    assert json.loads(json.dumps(report)) == report
    assert (report["splits"]["eval"]["reward_good"], report["splits"]["eval"]["reward_bad"]) == (3, 2)
    assert (report["splits"]["train"]["reward_good"], report["splits"]["train"]["reward_bad"]) == (0, 0)

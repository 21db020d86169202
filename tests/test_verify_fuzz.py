"""Fuzzing the reward: whatever a model (or an attacker) writes, no exception and a score in [0, 1]."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay_verl.problems.contexts import load_context
from interplay_verl.problems.rows import generate_row
from interplay_verl.rewards.composite import KEYS, compute_score

pytestmark = pytest.mark.usefixtures("parser")  # both parsers (tests/conftest.py)

ROWS = [generate_row(op, mode, load_context("zoo"), seed=9, index=op)
        for op in (3, 9, 15, 20) for mode in ("forward", "reverse")]


def check(text, row, variant="gated"):
    out = compute_score("interplay/zoo", text, row["answer"], {"graph": row["graph"]}, variant=variant, alpha=0.2)
    assert tuple(out) == KEYS
    assert out["reward_error"] == 0.0, "the reward failed internally (it scores 0 instead of raising)"
    assert all(isinstance(v, float) for v in out.values())
    assert 0.0 <= out["score"] <= 1.0 and 0.0 <= out["process"] <= 1.0 and 0.0 <= out["process_acc"] <= 1.0
    return out


def steps_of(row):
    body = row["text"].split("<solution>", 1)[1].split("</solution>")[0]
    return ["Define " + s for s in body.split("Define ")[1:]]


def mutate(row, rng: random.Random) -> tuple[str, str]:
    steps = steps_of(row)
    kind = rng.choice(["delete", "duplicate", "swap", "number", "huge_number", "shuffle", "truncate"])
    if kind == "delete" and len(steps) > 1:
        del steps[rng.randrange(len(steps))]
    elif kind == "duplicate":
        i = rng.randrange(len(steps))
        steps.insert(i, steps[i])
    elif kind == "swap" and len(steps) > 1:
        i, j = rng.sample(range(len(steps)), 2)
        steps[i], steps[j] = steps[j], steps[i]
    elif kind == "number":
        numbered = [i for i, st_ in enumerate(steps) if st_.rstrip(". ").split(" ")[-1].isdigit()]
        if not numbered:
            return "none", row["text"].split("<solution>", 1)[1]
        i = rng.choice(numbered)
        head, last = steps[i].rstrip(". ").rsplit(" ", 1)
        steps[i] = f"{head} {int(last) + rng.randint(1, 50)}. "
    elif kind == "huge_number":
        # not x's step (it has no value) nor the reverse tail (text after the last step is no step)
        valued = [i for i, st_ in enumerate(steps) if "we don't know" not in st_ and "We know" not in st_]
        if not valued:
            return "none", row["text"].split("<solution>", 1)[1]
        i = rng.choice(valued)
        steps[i] = steps[i].rstrip(". ") + " = " + "9" * 1000 + "."
    elif kind == "shuffle":
        rng.shuffle(steps)
    elif kind == "truncate":
        text = " ".join(steps)
        return kind, text[: rng.randrange(len(text))]
    return kind, " ".join(steps) + f" </solution> <answer> {row['answer']} </answer>"


def test_mutated_gold_solutions():
    rng = random.Random(0)
    for row in ROWS:
        gold_text = row["text"].split("<solution>", 1)[1]
        assert check(gold_text, row, "strict")["score"] == 1.0
        for _ in range(60):
            kind, text = mutate(row, rng)
            out = check(text, row, "strict")
            if kind in ("delete", "number", "huge_number") and text != gold_text and len(steps_of(row)) > 1:
                assert out["score"] == 0.0 and out["verified"] == 0.0, (kind, text)


@pytest.mark.parametrize("text", [
    "(" * 10000 + "1" + ")" * 10000,
    "Define " + "(" * 10000 + " as a; so a = " + "(" * 10000 + "3.",
    "<answer> " + "9" * 1000 + " </answer>",
    "Define x as a; so a = " + "1" * 5000 + ".",
    "Define adult lynx in Ash Valley as a; so a = 3. " * 25000,  # ~1 MB
    "".join(chr(c) for c in range(0, 0x3000, 7)) * 40,  # control characters and unicode
    "so a = a = a = a = " * 20000,
    "Define " * 50000,
    ("Define a" + " " * 4096 + "b as q; so q = 3. ") * 16,  # a long whitespace run inside a name
    "Define t as t; " + "u = t t t t t t t t; t = u u u u u u u u; " * 2000 + "so t = u.",  # x8 per level, capped
    "=" * 200000 + ";" * 200000,
    "\u200b<answer>\u00a010\u00a0</answer>",
])
def test_adversarial_inputs(text):
    for row in ROWS[:2]:
        check(text, row)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(), max_size=3000))
def test_random_text(text):
    check(text, ROWS[0])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Define ", " as ", "a", "x", "Q", "; ", "so ", " = ", "3", "-", "*", "+",
                                 "10.0", ". ", "adult lynx in Ash Valley", "<answer>", "</answer>", "Answer: ",
                                 "We know ", "Solution: x = ", "(", ")", "\n"]), max_size=300))
def test_random_solution_shaped_text(pieces):
    text = "".join(pieces)
    for row in (ROWS[0], ROWS[1]):
        check(text, row, variant="strict")


def test_a_fault_in_the_parser_fails_these_tests(monkeypatch):
    """The checks above are not satisfied by a reward that crashes and scores 0: with a parser that
    raises on some inputs, the fuzz check and the never-raises test both fail."""
    import interplay_verl.rewards.composite as composite
    from test_verify import test_never_raises_and_same_keys  # tests/ is on sys.path (pytest prepend mode)

    real = composite.parse_solution

    def faulty(text):
        if isinstance(text, str) and "Define" in text:
            raise IndexError("injected fault")
        return real(text)

    monkeypatch.setattr(composite, "parse_solution", faulty)
    gold_text = ROWS[0]["text"].split("<solution>", 1)[1]
    with pytest.raises(AssertionError, match="failed internally"):
        check(gold_text, ROWS[0])
    with pytest.raises(AssertionError):
        test_random_solution_shaped_text.hypothesis.inner_test(["Define ", "a", " as ", "q"])
    with pytest.raises(AssertionError):
        test_never_raises_and_same_keys("Define " * 10000)
    monkeypatch.setattr(composite, "parse_solution", real)
    check(gold_text, ROWS[0])  # and without the fault the same input passes

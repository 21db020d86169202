"""The compiled verifier (verify/_native.c) gives exactly what verify/parse.py and compare.py define.

Differential tests: gold traces of every op, mode and context, their mutations, hand-picked
edge cases of the grammar, and random text built from the grammar's pieces. Any difference in
answer, x, node order, parents, value or linear form fails.
"""

import os
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay_verl.problems.contexts import load_context
from interplay_verl.problems.rows import generate_row
from interplay_verl.verify import parse
from interplay_verl.verify.compare import GoldGraph, compare_nodes
from test_verify_fuzz import mutate

native = parse.native
# INTERPLAY_FUZZ_SCALE=100 for a long campaign (docs/verify.md records one)
SCALE = int(os.environ.get("INTERPLAY_FUZZ_SCALE", "1"))
pytestmark = pytest.mark.skipif(native is None, reason="compiled verifier not built (test_verify fails for it)")


def same(text: str) -> parse.ParsedSolution:
    got, want = native.parse(text), parse.parse_solution_py(text)
    assert got is not None, "ASCII text must be parsed natively"
    answer, x, nodes = got
    assert (answer, x) == (want.answer, want.x), text
    assert type(answer) is type(want.answer) and type(x) is type(want.x), text
    assert list(nodes.items()) == list(want.nodes.items()), text
    for node in nodes.values():
        assert type(node) is parse.PredictedNode and type(node.parents) is tuple
    return want


def rows():
    for context in ("zoo", "school", "festival"):
        ctx = load_context(context)
        for mode in ("forward", "reverse"):
            for op in range(2, 21):
                yield generate_row(op, mode, ctx, seed=5, index=op)


ROWS = list(rows())


def test_gold_traces_and_their_mutations_parse_and_compare_identically():
    rng = random.Random(1)
    for row in ROWS:
        gold = GoldGraph.from_graph(row["graph"])
        texts = [row["text"].split("<solution>", 1)[1], row["text"], row["solution"]]
        texts += [mutate(row, rng)[1] for _ in range(6)]
        for text in texts:
            pred = same(text)
            assert native.compare(pred.nodes, gold.nodes) == compare_nodes(pred.nodes, gold.nodes)
        assert len(same(texts[0]).nodes) == len(gold.nodes)  # a gold trace is fully read


EDGE_CASES = [
    # values: what int() takes, decimals, long numbers, linear forms, junk
    "Define a b as q; so q = 1_000. Define c as r; so r = +7. Define d as s; so s = -0.",
    "Define a as q; so q = 10.0. Define b as r; so r = 2.50. Define c as s; so s = 3.",
    "Define a as q; so q = " + "9" * 15 + ". Define b as r; so r = " + "9" * 16 + ". Define c as s; so s = " + "9" * 5000,
    "Define a as x; we don't know its value. Define b as q; so q = 3*x + 2 = 3 * x - 1 = - x + 4 = x. Solution: x = 2.",
    "Define a as q; so q = 3x. Define b as r; so r = x*3. Define c as s; so s = 3 * * x. Define d as t; so t = 3 x + .",
    "Define a as q; so q = 3*x..  Define b as r; so r = x + 12345678901234567 x. Answer: 3",
    "Define a as q; so q = " + " + ".join(["999999999999999*x"] * 20) + ". Solution: X = 4",
    "Define a as q; so q = 1e5. Define b as r; so r = 0x10. Define c as s; so s = 1/2. Define d as t; so t = .",
    # letters: binding, temporaries, reuse, own letter, unbound, case
    "Define a as A; so A = 2. Define b as B; C = A; so B = 2 * C = 4. Define c as A; so A = B + A = 9.",
    "Define a as q; so q = q = 4. Define b as Q; so Q = q. Define c as r; r = 5; so r = q; r = Q.",
    "Define a as q; t = q; t = t; so q = t = 1. Define b as r; So r = q = 1; SO r = 2; r = 3.",
    "Define a as q; so q = ab + c + d5 + e_f + (g) = 1. Define b as r; so r=q=1;so  r =q",
    # operands through temporaries, up to and past the cap (64)
    "Define a as a; so a = 1. Define z as q; t = " + "a " * 8 + "; so q = " + "t " * 8 + ". Define y as r; so r = q.",
    "Define a as a; so a = 1. Define z as q; t = " + "a " * 8 + "; so q = " + "t " * 8 + "a. Define y as r; so r = q",
    "Define a as a; so a = 1. Define z as q; t = " + "a " * 9 + "; u = " + "t " * 9 + "; so q = u + t + u = 1.",
    # names: spacing, case, prefixes, periods, length
    "Define   The  Number of  Adult\tLynx . as q; so q = 1. Define the the x as r; so r = 2.",
    "Define " + "n" * 199 + " as q; so q = 1. Define " + "n" * 200 + " as r; so r = 2. Define " + "n" * 201 + " as s;",
    "Define x  as  q ; so q = 1. Define y as q,so q = 2. Define z as qq; so q = 3. Define w as q",
    "Define x as q\n; so q = 1. Define y AS r; so r = 1. Define z as r so r = 1. Define as as as; so s = 1.",
    "Define  as a; so a = 1. Define \t as b; so b = 2. Define . as c; so c = 3.",
    # step and text structure
    "undefine a as q; so q = 1. predefined b as r. _define c as s; so s = 2. define\x0bd as t; so t = 3.",
    "Define a as q; so q = 1 </SOLUTION> Define b as r; so r = 2. <answer> 1 </answer>",
    "Define a as q; so q = 1.5.5. so q = 2. Define b as r; so r = 1.\x1c so r = 4.",
    "Define a as q; we don't know its value yet. Define b as r; WE DON'T KNOW ITS VALUE.",
    "Define a as q; we don't know its valu. Define b as r; we don't know its val. Solution: x = 1",
    "Define a as q; q = 5. Define b as r; r = q + 1; r = 7. Define c as s; s = 2; so s = r.",
    "Define\x1fa\x1fas\x1fq;\x1fso\x1fq\x1f=\x1f1.\x1f Define b as r\x1c; so r = q.\x1d",
    # answers and x
    "<answer> 5 </answer> <answer>6</answer> <answer> 7 8 </answer> Answer: 9",
    "Answer : 12 answer:13 ANSWER: -4.50 answer: x",
    "<answer> " + "1" * 401 + " </answer> Answer: " + "2" * 401 + ". Solution: x = 3.",
    "<answer> 1." + "0" * 401 + " </answer> Answer: 1." + "5" * 405,
    "Solution:x=7 solution : X = -8 solution: y = 9. Define a as q; so q = x + 1.",
    "<answer>+3</answer> <ANSWER> -0 </ANSWER> </answer>",
    "",
    "Define",
    "define define define",
    "Define " * 500 + "a as q; so q = 1.",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_parse_identically(text):
    same(text)


PIECES = ["Define ", "define ", "DEFINE", " as ", " AS ", "a", "q", "x", "X", "Q", "; ", ";", ",", "so ", "So ",
          " = ", "=", "3", "-", "+", "*", ".", ". ", "10.0", "1_0", "9" * 17, " ", "\t", "\n", "\x0b", "\x1c", "\x1f",
          "adult lynx", "the ", "number of ", "<answer>", "</answer>", "Answer:", "answer", ":", "Solution: x = ",
          "solution", "</solution>", "we don't know its value", "(", ")", "_"]


def edit(text: str, rng: random.Random) -> str:
    """A few character-level edits: what a half-trained model does to a well-formed solution."""
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(text) + 1)
        kind = rng.randrange(4)
        if kind == 0:
            text = text[:i] + rng.choice(string.printable + "\x0b\x1c") + text[i:]
        elif kind == 1:
            text = text[:i] + text[i + rng.randint(1, 5):]
        elif kind == 2:
            j = rng.randrange(len(text) + 1)
            text = text[:i] + text[min(i, j):max(i, j)] + text[i:]
        else:
            text = text[:i] + rng.choice([" = ", ";", ". ", " as ", "so ", "x", "*", "Define ", "0"]) + text[i:]
    return text


def test_character_edits_of_gold_traces_parse_identically():
    rng = random.Random(2)
    for _ in range(20 * SCALE):
        for row in ROWS:
            same(edit(row["text"], rng))


@settings(max_examples=1500 * SCALE, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=120))
def test_grammar_shaped_text_parses_identically(pieces):
    same("".join(pieces))


@settings(max_examples=500 * SCALE, deadline=None)
@given(st.text(alphabet=string.printable + "\x0b\x1c\x1f\x00\x7f", max_size=2000))
def test_random_ascii_parses_identically(text):
    same(text)


def test_non_ascii_is_left_to_python():
    text = "Define café count as q; so q = 3. <answer> 3 </answer>"
    assert native.parse(text) is None
    assert list(parse.parse_solution(text).nodes) == ["café count"]


def test_bad_arguments_raise_cleanly():
    with pytest.raises(TypeError):
        native.parse(b"Define a as q")
    with pytest.raises(TypeError):
        native.compare({}, [])
    with pytest.raises(ValueError, match="max_operands"):
        native.configure(parse.PredictedNode, parse._value_of, parse.parse_number, parse.UNBOUND, parse.TOO_MANY, 65)
    with pytest.raises(TypeError, match="NamedTuple"):
        native.configure(dict, parse._value_of, parse.parse_number, parse.UNBOUND, parse.TOO_MANY, 64)


def test_errors_in_the_python_helpers_propagate_without_damage():
    """Errors raised by the Python side propagate (compute_score turns them into zeros); state survives."""
    def boom(text):
        raise RuntimeError("helper failed: " + text)

    try:
        native.configure(parse.PredictedNode, boom, parse.parse_number, parse.UNBOUND, parse.TOO_MANY, 64)
        with pytest.raises(RuntimeError, match="helper failed: 1_000"):
            native.parse("Define a as q; so q = 2. Define b as r; so r = 1_000. Answer: 3")
        native.configure(parse.PredictedNode, parse._value_of, boom, parse.UNBOUND, parse.TOO_MANY, 64)
        with pytest.raises(RuntimeError, match=r"helper failed: 2\.5"):
            native.parse("Define a as q; so q = 2. <answer> 2.5 </answer>")
    finally:
        native.configure(parse.PredictedNode, parse._value_of, parse.parse_number, parse.UNBOUND, parse.TOO_MANY,
                         parse.MAX_OPERANDS)
    same("Define a as q; so q = 2. Define b as r; so r = 1_000. <answer> 2.5 </answer>")


def test_a_build_of_another_version_of_the_source_is_ignored(monkeypatch):
    """An editable checkout after `git pull`, before `pip install -e .` rebuilds: Python does the work."""
    monkeypatch.setattr(native, "SOURCE_SHA256", "0" * 64)
    with pytest.warns(RuntimeWarning, match="changed since its extension was built"):
        assert parse._load_native() is None
    monkeypatch.undo()
    assert parse._load_native() is native

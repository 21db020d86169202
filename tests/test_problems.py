"""The problem generator's guarantees, checked on the rendered text."""

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interplay_verl.problems.contexts import BUILTIN, ContextError, load_context
from interplay_verl.problems.rows import generate_row

CONTEXTS = {name: load_context(name) for name in BUILTIN}
_TOKEN = re.compile(r"\s*(\d+|[A-Za-z]|[-+*/()])")


def evaluate(expr: str, env: dict[str, int]) -> int:
    """Integer arithmetic over + - * / ( ) and single-letter variables (test-side checker)."""
    tokens = _TOKEN.findall(expr)
    assert "".join(tokens) == expr.replace(" ", ""), expr
    pos = 0

    def atom():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            v = additive()
            pos += 1
            return v
        if tok == "-":
            return -atom()
        return int(tok) if tok.isdigit() else env[tok]

    def apply(op: str, v: int, r: int) -> int:
        if op == "/":
            assert v % r == 0, expr
            return v // r
        return {"*": v * r, "+": v + r, "-": v - r}[op]

    def binary(operand, ops: str):
        def parse() -> int:
            nonlocal pos
            v = operand()
            while pos < len(tokens) and tokens[pos] in ops:
                pos += 1
                v = apply(tokens[pos - 1], v, operand())
            return v

        return parse

    additive = binary(binary(atom, "*/"), "+-")
    value = additive()
    assert pos == len(tokens), expr
    return value


def check_solution(row: dict) -> None:
    graph = json.loads(row["graph"])
    nodes = {n["name"]: n for n in graph["nodes"]}
    text = row["solution"]
    answer = int(row["answer"])
    assert text.endswith(f"Answer: {answer}.")
    text = text[: -len(f" Answer: {answer}.")]
    tail = ""
    if row["mode"] == "reverse":
        text, tail = text.split(" We know ", 1)
        assert text.startswith("The question is difficult, so we use equations to solve it. ")
        text = text[len("The question is difficult, so we use equations to solve it. "):]
    env: dict[str, int] = {}
    letters: list[str] = []
    uses: dict[str, list[str]] = {}  # variable -> quantity names it stands for
    defined = []
    for step in text.split("Define ")[1:]:
        m = re.fullmatch(r"(.+?) as ([A-Za-z]); (.+)\.\s*", step)
        assert m, step
        name, letter, rest = m.groups()
        defined.append(name)
        letters.append(letter)
        if rest == "we don't know its value yet but will find it out later":
            assert row["mode"] == "reverse" and letter == "x" and name == graph["hidden"]
            env["x"] = nodes[name]["value"]
            uses["x"] = [name]
            continue
        for segment in rest.split("; "):
            final = segment.startswith("so ")
            parts = (segment[3:] if final else segment).split(" = ")
            var = parts[0]
            if not final:
                letters.append(var)
            values = [evaluate(p, env) for p in parts[1:]]
            assert len(set(values)) == 1, (segment, values)
            env[var] = values[0]
            used = _TOKEN.findall(parts[1])
            uses[var] = [q for t in used if t.isalpha() for q in uses[t]]
        assert var == letter
        assert env[letter] == nodes[name]["value"], (name, env[letter], nodes[name]["value"])
        assert sorted(uses[letter]) == sorted(nodes[name]["parents"]), (name, uses[letter], nodes[name]["parents"])
        uses[letter] = [name]
    assert len(letters) == len(set(letters)), letters
    assert defined == [n["name"] for n in graph["nodes"] if n["necessary"]]
    assert defined[-1] == graph["target"]
    if row["mode"] == "forward":
        assert answer == nodes[graph["target"]]["value"]
    else:
        assert answer == nodes[graph["hidden"]]["value"] == env["x"]
        m = re.fullmatch(r"([A-Za-z]) = (\d+), so we have (.+) = (\d+) and we solve it through the following steps: "
                         r"(.+) Solution: x = (\d+)\.", tail)
        assert m, tail
        assert env[m.group(1)] == int(m.group(2)) == nodes[graph["target"]]["value"]
        assert evaluate(m.group(3), env) == int(m.group(4)) and int(m.group(6)) == answer


def op_of(graph: dict) -> int:
    return sum(len(n["parents"]) + (n["const"] is not None) for n in graph["nodes"] if n["necessary"])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("context", BUILTIN)
def test_generator_properties_over_many_seeds(mode, context):
    ctx = CONTEXTS[context]
    for seed in range(12):
        for op in range(2, 31):
            row = generate_row(op, mode, ctx, seed=seed, index=op)
            graph = json.loads(row["graph"])
            assert op_of(graph) == op == row["op"]
            assert all(0 <= n["value"] <= 1000 for n in graph["nodes"])
            assert any(not n["necessary"] for n in graph["nodes"])  # distractors are stated
            check_solution(row)
            assert row["text"] == (f"<question> {row['problem']} {row['question']} </question> <solution> "
                                   f"{row['solution'][: -len(' Answer: ' + row['answer'] + '.')]} </solution> "
                                   f"<answer> {row['answer']} </answer>")
            assert row["text"].startswith(row["prompt"])


def test_problem_states_every_non_aggregate_quantity():
    row = generate_row(12, "forward", CONTEXTS["zoo"], seed=3, index=0)
    graph = json.loads(row["graph"])
    for n in graph["nodes"]:
        if n["relation"] != "aggregate":
            assert f"The number of {n['name']} equals " in row["problem"]
        else:
            assert f"The {n['name']} equals" not in row["problem"]


def test_rows_are_deterministic_and_ids_distinguish():
    a = generate_row(9, "reverse", CONTEXTS["festival"], seed=5, index=7)
    assert generate_row(9, "reverse", CONTEXTS["festival"], seed=5, index=7) == a
    ids = {generate_row(9, "reverse", CONTEXTS["festival"], seed=5, index=i)["id"] for i in range(50)}
    assert len(ids) == 50


def test_rows_identical_under_different_pythonhashseed():
    code = ("import json; from interplay_verl.problems.contexts import load_context; "
            "from interplay_verl.problems.rows import generate_row; "
            "print(json.dumps([generate_row(op, m, load_context(c), 1, i) for c in ('zoo','school') "
            "for m in ('forward','reverse') for op in (2, 11, 20) for i in range(3)], sort_keys=True))")
    outs = []
    for hashseed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(proc.stdout)
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "content,field",
    [
        ("name: c\ncategory: x\nquestion: 'How many {item_plural} in {entity}?'\nentities: {g: [A]}\n", "items"),
        ("name: c\ncategory: x\nquestion: 'How many?'\nentities: {g: [A]}\nitems: {h: [[a, as]]}\n", "question"),
        ("name: c\ncategory: x\nquestion: '{item_plural} {entity}'\nentities: {g: [A, A]}\nitems: {h: [[a, as]]}\n", "entities.g"),
        ("name: c\ncategory: x\nquestion: '{item_plural} {entity}'\nentities: {g: [A]}\nitems: {h: [[a]]}\n", "items.h[0]"),
        ("[1, 2]\n", "<root>"),
    ],
)
def test_malformed_context_names_file_and_field(tmp_path, content, field):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ContextError) as err:
        load_context(str(path))
    assert str(path) in str(err.value) and f"field '{field}'" in str(err.value)


def test_user_context_file_works(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({
        "name": "space", "category": "ships", "question": "How many {item_plural} does {entity} have?",
        "entities": {"ports": ["Vega Port", "Orion Dock", "Lyra Base", "Deneb Yard", "Altair Pier"]},
        "items": {"craft": [["cargo ship", "cargo ships"], ["shuttle", "shuttles"], ["tug", "tugs"],
                            ["tanker", "tankers"], ["scout", "scouts"]]},
    }))
    ctx = load_context(str(path))
    row = generate_row(14, "forward", ctx, seed=0, index=0)
    assert row["context"] == "space"
    assert any(port in row["problem"] for port in ctx.entities["ports"])
    check_solution(row)


def test_unknown_context():
    with pytest.raises(ContextError, match="unknown context 'mars'"):
        load_context("mars")


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**31), op=st.integers(2, 30), mode=st.sampled_from(["forward", "reverse"]),
       context=st.sampled_from(BUILTIN), index=st.integers(0, 10**6))
def test_generator_properties_hypothesis(seed, op, mode, context, index):
    row = generate_row(op, mode, CONTEXTS[context], seed=seed, index=index)
    assert op_of(json.loads(row["graph"])) == op
    check_solution(row)


# ------------------------------------------------------------------ the paper's style (--style paper)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("context", BUILTIN)
def test_paper_style_rows_have_exact_op_checked_arithmetic_and_verify(mode, context):
    """Every op 2-20: the op asked, every step's arithmetic recomputed, no necessary 0, the gold
    solution scores 1.0 through the verifier, the paper's wording."""
    from interplay_verl.rewards.composite import compute_score

    ctx = CONTEXTS[context]
    for seed in range(3):
        for op in range(2, 21):
            row = generate_row(op, mode, ctx, seed=seed, index=op, style="paper")
            graph = json.loads(row["graph"])
            assert op_of(graph) == op == row["op"] and row["generator_version"] == "paper-style-1"
            assert all(1 <= n["value"] <= 1000 for n in graph["nodes"] if n["necessary"])
            check_solution(row)
            gold = row["text"].split("<solution>", 1)[1]
            score = compute_score("x", gold, row["answer"], {"graph": row["graph"]})
            assert score["score"] == 1.0 and score["verified"] == 1.0, row["solution"]
            released = compute_score("x", gold, row["answer"], {"graph": row["graph"], "gold_solution": row["solution"]},
                                     semantics="paper")
            assert released["score"] == 1.0, row["solution"]  # the released reward's reading agrees
            sentences = row["problem"].split(". ")
            stated = [n for n in graph["nodes"] if n["relation"] != "aggregate"]
            assert len(sentences) == len(stated) + (mode == "reverse")  # every instance stated once
            target = next(n for n in graph["nodes"] if n["name"] == (graph["hidden"] or graph["target"]))
            if target["relation"] == "aggregate":
                assert row["question"] == f"What is the {target['name']}?"
            else:  # the singular item, as the paper asks
                item, entity = target["name"].split(" in ", 1)
                assert row["question"] == f"How many {item} does {entity} have?"
            letters = re.findall(r"Define .+? as ([A-Za-z]);", row["solution"])
            if mode == "reverse":
                assert "X" not in letters and letters.count("x") == 1
                assert "Move all terms to one side: " in row["solution"] and "Isolate the term with x: " in row["solution"]
                assert f"The number of {graph['hidden']} exists, and its number is greater than 0" in row["problem"]


def test_paper_style_wording_and_shape():
    """Compound statements, totals as parents, brackets in reverse mode, and the reverse tail."""
    rows = [generate_row(op, mode, CONTEXTS["zoo"], seed=0, index=i, style="paper")
            for op in (6, 9, 12) for mode in ("forward", "reverse") for i in range(40)]
    problems = " ".join(r["problem"] for r in rows)
    assert re.search(r"equals \d (plus|times) the (sum|difference) (of|between) ", problems)
    assert re.search(r"equals the sum of [^.]+, [^.]+, and ", problems)
    assert re.search(r"equals (\d (plus|times) )?the total number of adult animals in ", problems)
    reverse = " ".join(r["solution"] for r in rows if r["mode"] == "reverse")
    assert re.search(r" = \(\d\) \* \([^)]*x[^)]*\) = ", reverse)  # "(3) * (x + 3)"
    assert re.search(r"Divide both sides by -?\d+: x = -?\d+ / -?\d+\. Solution: x = \d\.", reverse)
    forward = [r for r in rows if r["mode"] == "forward"]
    assert sum(r["question"].startswith("What is the total") for r in forward) > len(forward) / 2
    assert all(r["problem"].endswith(".") and not r["problem"].endswith(" ") for r in rows)
    from interplay_verl.problems.paper_style import linear

    assert [linear(*t) for t in ((1, 0), (2, 1), (1, -3), (-1, 5), (-2, 4), (-1, -1), (0, 7), (-1, 0))] == [
        "x", "2*x + 1", "x - 3", "5 - x", "4 - 2*x", "-x - 1", "7", "-x"]


def test_paper_style_rows_are_deterministic_and_named_apart():
    a = generate_row(12, "reverse", CONTEXTS["school"], seed=4, index=9, style="paper")
    assert generate_row(12, "reverse", CONTEXTS["school"], seed=4, index=9, style="paper") == a
    assert a["id"] != generate_row(12, "reverse", CONTEXTS["school"], seed=4, index=9)["id"]
    with pytest.raises(ValueError, match="style 'gsm': choose one of interplay, paper"):
        generate_row(3, "forward", CONTEXTS["zoo"], seed=0, index=0, style="gsm")


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_cpu_scale_sampler_bounds_values_and_orders_letters(mode):
    """The CPU-scale knobs (docs/paper-differences.md) draw the same kind of problem, checked by the
    same solution checker, with every value <= max_value and the letters a, b, c, ... in the order
    the solution defines them (temporaries included), x kept for the hidden quantity."""
    from interplay_verl.problems.render import HIDDEN_LETTER, LETTERS
    from interplay_verl.problems.sampler import SamplerConfig

    small = SamplerConfig(max_value=20, letters="ordered")
    for seed in range(4):
        for op in range(2, 21):
            row = generate_row(op, mode, CONTEXTS["zoo"], seed, op, small)
            graph = json.loads(row["graph"])
            assert op_of(graph) == op and all(0 <= n["value"] <= 20 for n in graph["nodes"])
            check_solution(row)
            # each letter's first appearance: named ("as b;") or a temporary ("; c = a = 3")
            used = [a or b for a, b in re.findall(r"as ([A-Za-z]);|(?<=; )([A-Za-z]) = ", row["solution"])]
            fresh = [c for c in used if c != HIDDEN_LETTER or mode == "forward"]
            assert fresh and len(fresh) == len(set(fresh))
            assert fresh == [c for c in LETTERS if mode == "forward" or c != HIDDEN_LETTER][:len(fresh)]
    # fewer distractors: fewer unneeded quantities stated, over the same draws

    def unneeded(config):
        return sum(not n["necessary"] for op in range(2, 12) for i in range(10)
                   for n in json.loads(generate_row(op, mode, CONTEXTS["zoo"], 2, i, config)["graph"])["nodes"])
    assert unneeded(SamplerConfig(max_distractors=1)) < 0.75 * unneeded(SamplerConfig())  # 264 against 405
    # none at all: every stated quantity is a step of the solution, and op is still exact
    assert unneeded(SamplerConfig(max_distractors=0)) == 0

    def entities(config, ops=range(2, 5)):  # per problem, the entities its instance names are in
        return [len({n["name"].split(" in ")[-1] for n in json.loads(generate_row(op, mode, CONTEXTS["zoo"], 3, i, config)
                                                                          ["graph"])["nodes"] if " in " in n["name"]})
                for op in ops for i in range(20)]
    spread = entities(SamplerConfig(max_distractors=0))
    assert max(spread) > 1 and set(entities(SamplerConfig(max_distractors=0, max_entities=1))) == {1}
    # where the names do not fit in one entity (5 items at most), as few as hold them
    assert max(entities(SamplerConfig(max_entities=1), ops=range(15, 17))) > 1
    for op in (2, 9, 20):
        row = generate_row(op, mode, CONTEXTS["zoo"], 0, 0, SamplerConfig(max_distractors=0, max_entities=1))
        assert op_of(json.loads(row["graph"])) == op
        check_solution(row)
    # the letters are a rendering choice: the problem, its graph and id are the random-letter row's
    plain = generate_row(5, mode, CONTEXTS["zoo"], 1, 0, SamplerConfig(max_value=20))
    ordered = generate_row(5, mode, CONTEXTS["zoo"], 1, 0, small)
    assert (ordered["id"], ordered["graph"], ordered["answer"]) == (plain["id"], plain["graph"], plain["answer"])
    assert ordered["solution"] != plain["solution"]


def test_the_default_rows_are_pinned():
    """Knobs added later (max_entities, max_distractors 0) leave the paper-default rows byte for
    byte as they were (the digest of 2026-11-30, before those knobs, equals this one)."""
    digest = hashlib.sha256()
    for op in (2, 7, 15, 20):
        for mode in ("forward", "reverse"):
            row = generate_row(op, mode, CONTEXTS["zoo"], 0, 3)
            digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    assert digest.hexdigest() == "eecd312e7e87324dc3c7db32eeb0f3972c0b2e6ea4d18adb8d22518c30f826c1"


def test_a_narrow_value_range_redraws_instead_of_failing():
    """With values up to 10-20 some draws have no valid action (reverse mode, op >= ~15): they are
    redrawn from a derived stream, every row still has its exact op, and a row that needed no
    redraw is the one the first stream gives."""
    from interplay_verl.problems.rows import problem_rng
    from interplay_verl.problems.sampler import GenerationError, SamplerConfig, sample_problem

    failed_first = 0
    for max_value in (10, 20):
        config = SamplerConfig(max_value=max_value)
        for mode in ("forward", "reverse"):
            for op in (2, 9, 15, 18, 20, 30):
                for i in range(12):
                    row = generate_row(op, mode, CONTEXTS["school"], 0, i, config)
                    assert op_of(json.loads(row["graph"])) == op
                    try:
                        sample_problem(op, mode, CONTEXTS["school"], problem_rng(0, op, mode, "school", i), config)
                    except GenerationError:
                        failed_first += 1
    assert failed_first > 0  # the redraw was needed, and it worked


def test_sampler_settings_are_refused_with_the_option_named():
    from interplay_verl.problems.sampler import SamplerConfig

    with pytest.raises(ValueError, match="max_value 5: must be at least 10"):
        SamplerConfig(max_value=5).check()
    with pytest.raises(ValueError, match="max_distractors -1: must be at least 0"):
        SamplerConfig(max_distractors=-1).check()
    with pytest.raises(ValueError, match="max_entities 0: must be in 1..5"):
        SamplerConfig(max_entities=0).check()
    with pytest.raises(ValueError, match="letters 'abc': choose one of random, ordered"):
        SamplerConfig(letters="abc").check()
    with pytest.raises(ValueError, match="style 'paper' draws the paper's problems; {'max_value': 20}"):
        generate_row(3, "forward", CONTEXTS["zoo"], 0, 0, SamplerConfig(max_value=20), style="paper")
    assert SamplerConfig().changed() == {} and SamplerConfig(letters="ordered").changed() == {"letters": "ordered"}

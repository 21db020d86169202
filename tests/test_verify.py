"""Process verification and the composite reward (docs/method.md#5-process-verification, #6-rewards) on hand-built cases."""

import json
import os
import subprocess
import sys

import pytest

from interplay_verl.problems.contexts import load_context
from interplay_verl.problems.rows import generate_row
from interplay_verl.rewards.composite import KEYS, check_reward_kwargs, compute_score
from interplay_verl.verify.compare import GoldGraph, verify, verify_batch
from interplay_verl.verify.parse import parse_solution

HERON, FINCH, TOTAL = "adult heron in Mill Pond Park", "adult finch in Mill Pond Park", \
    "total number of adult animals in Mill Pond Park"
GRAPH = {
    "target": TOTAL, "hidden": None,
    "nodes": [
        {"name": HERON, "value": 2, "parents": [], "relation": "const", "const": 2, "necessary": True},
        {"name": FINCH, "value": 8, "parents": [HERON], "relation": "mul", "const": 4, "necessary": True},
        {"name": TOTAL, "value": 10, "parents": [HERON, FINCH], "relation": "aggregate", "const": None, "necessary": True},
        {"name": "adult owl in Mill Pond Park", "value": 3, "parents": [], "relation": "const", "const": 3,
         "necessary": False},
    ],
}
STEP1 = f"Define {HERON} as a; so a = 2."
STEP2 = f"Define {FINCH} as f; M = a = 2; so f = 4 * M = 4 * 2 = 8."
STEP3 = f"Define {TOTAL} as L; so L = a + f = 2 + 8 = 10."
GOLD = f"{STEP1} {STEP2} {STEP3} </solution> <answer> 10 </answer>"
INFO = {"graph": json.dumps(GRAPH)}


pytestmark = pytest.mark.usefixtures("parser")


def score(text, variant="gated", alpha=0.2, **extra):
    return compute_score("interplay/zoo/op5", text, "10", extra.get("extra_info", INFO), variant=variant, alpha=alpha)


def test_gold_solution_scores_one_under_every_variant():
    for variant in ("outcome", "composite", "gated", "strict"):
        out = score(GOLD, variant)
        assert out["score"] == 1.0 and out["verified"] == 1.0 and out["process"] == 1.0, (variant, out)


def test_one_wrong_intermediate_value():
    text = GOLD.replace("4 * 2 = 8.", "4 * 2 = 9.")
    out = score(text)
    assert out["process"] == pytest.approx(2 / 3) and out["wrong_value"] == 1 and out["outcome"] == 1
    assert score(text, "gated", 0.2)["score"] == pytest.approx(0.7333, abs=1e-4)
    assert score(text, "gated", 0.5)["score"] == pytest.approx(0.8333, abs=1e-4)
    assert score(text, "strict")["score"] == 0.0
    assert out["verified"] == 0.0 and out["process_acc"] == pytest.approx(2 / 3)


def test_one_extra_step():
    text = GOLD.replace(STEP3, f"Define adult owl in Mill Pond Park as o; so o = 3. {STEP3}")
    out = score(text)
    assert out["process"] == pytest.approx(2 / 3) and out["extra"] == 1
    assert score(text, "strict")["score"] == 0.0
    assert out["verified"] == 1.0  # extra steps do not break VerifiedCorrect (evaluation)


def test_bare_answer():
    out = score("<answer> 10 </answer>")
    assert out["outcome"] == 1.0 and out["process"] == 0.0 and out["missing"] == 3
    assert out["score"] == pytest.approx(0.2)


def test_wrong_answer():
    text = GOLD.replace("<answer> 10 </answer>", "<answer> 11 </answer>")
    for variant in ("gated", "strict"):
        assert score(text, variant)["score"] == 0.0
    out = score(text, "composite", 0.2)
    r_pv = 1 - 1 / 3  # the wrong answer costs one point of P
    assert out["process"] == pytest.approx(r_pv) and out["score"] == pytest.approx(0.2 * 0 + 0.8 * r_pv)


def test_decimal_answer_matches():
    assert score(GOLD.replace("<answer> 10 </answer>", "<answer> 10.0 </answer>"))["outcome"] == 1.0
    assert score("Answer: 10.0")["outcome"] == 1.0


def test_tolerant_of_what_models_write():
    messy = ("Let me think.  define   ADULT heron in  mill pond park as Q; so Q = 2 "
             "Define adult finch in Mill Pond Park as z; so z = 4 * Q = 8. "
             "Define the total number of adult animals in Mill Pond Park as k; so k = Q + z = 10. Answer: 10")
    out = score(messy)
    assert out["verified"] == 1.0 and out["score"] == 1.0, out
    reordered = f"{STEP2} {STEP1} {STEP3} <answer> 10 </answer>"
    assert score(reordered)["wrong_parents"] == 1  # f's M is unbound before a exists


# ------------------------------------------------------------------ hacking cases
def test_self_reference_is_wrong_parents():
    text = GOLD.replace(STEP2, f"Define {FINCH} as A; so A = A = 8.").replace("L = a + f", "L = a + A")
    out = score(text)
    assert out["wrong_parents"] == 1 and out["wrong_value"] == 0  # only the finch


def test_reused_letter_binds_to_newest_definition():
    # f is redefined for the owl; the total's "a + f" then means heron + owl, not heron + finch
    text = GOLD.replace(STEP3, f"Define adult owl in Mill Pond Park as f; so f = 3. {STEP3}")
    out = score(text)
    assert out["wrong_parents"] == 1 and "total" in " ".join(verify(text, GoldGraph.from_graph(GRAPH)).wrong_parents)


def test_bare_value_for_a_derived_quantity_is_wrong_parents():
    text = GOLD.replace(STEP2, f"Define {FINCH} as f; so f = 8.")
    out = score(text)
    assert out["wrong_parents"] == 1 and out["wrong_value"] == 0 and out["score"] < 1


def test_unknown_quantity_is_extra():
    text = GOLD.replace(STEP3, f"Define adult dragon in Mill Pond Park as d; so d = 1. {STEP3}")
    assert score(text)["extra"] == 1


def test_verify_batch_scores_samples_against_one_gold():
    reports = verify_batch([GOLD, "<answer> 10 </answer>", GOLD.replace("4 * 2 = 8.", "4 * 2 = 9.")],
                           GoldGraph.from_graph(GRAPH))
    assert [r.verified for r in reports] == [True, False, False]
    assert [len(r.missing) for r in reports] == [0, 3, 0] and reports[2].wrong_value == [FINCH.lower()]


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("bad", [None, "", b"\xff\xfe<answer> 10 </answer>", 12345, ["x"], "\x00" * 100,
                                 "Define " * 10000, "(" * 10000 + "10" + ")" * 10000, "9" * 5000,
                                 "<answer> " + "9" * 1000 + " </answer>"])
def test_never_raises_and_same_keys(bad):
    out = score(bad)
    assert tuple(out) == KEYS and 0.0 <= out["score"] <= 1.0
    assert out["reward_error"] == 0.0  # a crash inside the reward would also score 0: this tells them apart


def test_gold_from_paper_style_solution_text_and_dict_ground_truth():
    out = compute_score("x", GOLD, {"answer": "10"}, {"gold_solution": GOLD.split("</solution>")[0] + " Answer: 10."})
    assert out["verified"] == 1.0 and out["score"] == 1.0
    assert compute_score("x", GOLD, {"answer": "10", "graph": GRAPH})["score"] == 1.0


def test_bad_reward_kwargs():
    with pytest.raises(ValueError, match="variant='best'"):
        check_reward_kwargs("best", 0.2)
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        check_reward_kwargs("gated", 2)
    bad = score(GOLD, variant="best")  # inside the trainer: no exception, the failure reported
    assert bad["score"] == 0.0 and bad["reward_error"] == 1.0


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_generated_gold_solutions_verify(mode):
    ctx = load_context("school")
    for op in range(2, 21):
        row = generate_row(op, mode, ctx, seed=4, index=op)
        out = compute_score(f"interplay/school/op{op}", row["text"].split("<solution>", 1)[1], row["answer"],
                            {"graph": row["graph"]}, variant="strict")
        assert out["score"] == 1.0 and out["verified"] == 1.0, (op, mode, out)


def test_reward_fns_file_works_without_install(tmp_path):
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('r', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(m.compute_score('x', '<answer> 3 </answer>', '3')['outcome'])")
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reward_fns", "composite.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-S", "-c", code, path], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "1.0", proc.stderr[-2000:]


def test_operands_through_temporaries_are_capped():
    """t = a a a; u = t t t; ... would grow exponentially; past 64 operands a step's parents are wrong."""
    from interplay_verl.verify.parse import MAX_OPERANDS, TOO_MANY

    chain = "t = " + "a " * 8 + "; u = " + "t " * 8 + "; "  # u stands for 64 heron operands
    out = score(f"{STEP1} Define {FINCH} as f; {chain}so f = u = 8. {STEP3} </solution> <answer> 10 </answer>")
    assert out["wrong_parents"] == 1.0 and out["wrong_value"] == 0.0 and out["process_acc"] == pytest.approx(2 / 3)
    parsed = parse_solution(f"{STEP1} Define {FINCH} as f; {chain}so f = u + a = 8.")
    assert parsed.nodes[FINCH.lower()].parents == (TOO_MANY,) and MAX_OPERANDS == 64
    parsed = parse_solution(f"{STEP1} Define {FINCH} as f; {chain}so f = u = 8.")
    assert parsed.nodes[FINCH.lower()].parents == (HERON.lower(),) * 64


def test_parse_never_executes_text():
    parsed = parse_solution("Define __import__('os').system('echo hi') as a; so a = 1. Answer: 1")
    assert list(parsed.nodes) == ["__import__('os').system('echo hi')"] and parsed.answer == 1


@pytest.mark.parametrize("text", [
    GOLD,
    GOLD.replace("Define", "DEFINE").replace("</solution>", "</SOLUTION>"),
    "undefine x. predefined y. define\tthe " + HERON + " as a; so a = 2. Define" + "\n" + FINCH + " as b; so b = a.",
    "İ" + GOLD,  # lower-casing changes the length: the regex path
    "define define define",
    "Define",
])
def test_step_cutting_matches_the_regex_definition(text):
    """The str.find cutter and the case-insensitive regex agree on where steps start and end."""
    import re

    from interplay_verl.verify.parse import _define_chunks

    body = re.split("</solution>", text, maxsplit=1, flags=re.I)[0]
    expected = re.split(r"\bdefine\s+", body, flags=re.I)[1:]
    assert [c.lstrip() for c in _define_chunks(text, text.lower())] == [c.lstrip() for c in expected]


def test_step_cache_gives_the_same_reports_and_is_bounded(parser):
    """A cached step is binding-free: the same step text after a different letter history scores differently.

    The cache serves parse.py only; the compiled parser re-reads every step (faster than a lookup).
    """
    from interplay_verl.verify import parse

    parse._parse_step_cached.cache_clear()
    assert score(GOLD)["score"] == 1.0
    before = parse._parse_step_cached.cache_info()
    assert score(GOLD)["score"] == 1.0
    assert parse._parse_step_cached.cache_info().hits - before.hits == (3 if parser == "python" else 0)
    # STEP3 alone, seen (cached) before, now with a and f unbound: wrong parents for TOTAL
    out = score(f"Define {TOTAL} as L; so L = a + f = 2 + 8 = 10. </solution> <answer> 10 </answer>")
    assert out["wrong_parents"] == 1.0 and out["missing"] == 2.0
    long_step = "Define " + "x" * 2000 + " as q; so q = 1."
    size = parse._parse_step_cached.cache_info().currsize
    parse_solution(long_step)
    assert parse._parse_step_cached.cache_info().currsize == size  # not kept


def test_comparison_graph_marks_every_error_and_exports_graphml(tmp_path):
    """The picture's graph: one node per quantity of either graph, each error where it happened."""
    import networkx as nx
    from PIL import Image

    from interplay_verl import plots
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row
    from interplay_verl.verify.graphs import comparison_graph, write_graphml

    row = generate_row(9, "forward", load_context("zoo"), seed=0, index=3, style="paper")
    gold = json.loads(row["graph"])
    necessary = [n for n in gold["nodes"] if n["necessary"]]
    steps = row["solution"].split("Define ")
    dropped = necessary[1]["name"]
    assert steps[2].startswith(dropped)
    text = "Define ".join(steps[:2] + steps[3:]) + " Define adult owl in Nowhere as Q; so Q = 3."
    graph, report = comparison_graph(row["graph"], text)
    status = nx.get_node_attributes(graph, "status")
    lower = {n["name"].lower(): n for n in necessary}
    assert status[dropped.lower()] == "missing" and status["adult owl in nowhere"] == "extra"
    assert sorted(s for s in status.values()) == sorted(
        ["missing", "extra"] + ["wrong_parents" if n in report.wrong_parents else "ok" for n in lower
                                if n != dropped.lower()])
    assert graph.nodes[dropped.lower()]["gold_value"] == str(lower[dropped.lower()]["value"])
    assert graph.nodes[dropped.lower()]["solution_value"] == ""
    kinds = nx.get_edge_attributes(graph, "kind")
    assert {kinds[(p.lower(), dropped.lower())] for p in lower[dropped.lower()]["parents"]} == {"gold"}
    assert set(kinds.values()) <= {"both", "gold", "solution"} and "both" in kinds.values()
    back = nx.read_graphml(write_graphml(graph, str(tmp_path / "g.graphml")))
    assert set(back.nodes) == set(graph.nodes) and nx.get_node_attributes(back, "status") == status
    assert Image.open(plots.problem_picture(graph, str(tmp_path / "g.png"), "t")).size[0] > 300
    clean, ok = comparison_graph(row["graph"], row["solution"])
    assert ok.verified and set(nx.get_node_attributes(clean, "status").values()) == {"ok"}
    assert set(nx.get_edge_attributes(clean, "kind").values()) == {"both"}

"""The paper's released artifacts: its data imports, its checkpoints load and decode, and its reward
is reproducible (``semantics="paper"``). No hub access: a stand-in of the released layout is made here."""

import json
import os
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from interplay_verl.data.released import ReleasedDataError, import_released
from interplay_verl.data.rows import load_rows
from interplay_verl.rewards.composite import compute_score
from interplay_verl.rewards.decoding import completion_text
from interplay_verl.verify import paper
from interplay_verl.verify.compare import GoldGraph, verify
from interplay_verl.verify.parse import parse_solution

# ------------------------------------------------------------------ released-format rows, written by hand
TAIL = "we don't know its value yet but will find it out later."
ROWS = [
    {"problem": "The number of adult owl in Pine Zoo equals 3. The number of adult fox in Pine Zoo equals 2 times the "
                "number of adult owl in Pine Zoo. The number of adult bear in Oak Forest equals 4.",
     "question": "How many adult fox does Pine Zoo have?",
     "solution": "Define adult owl in Pine Zoo as a; so a = 3. Define adult fox in Pine Zoo as b; so b = 2 * a = "
                 "2 * 3 = 6. Answer: 6.",
     "op": 2, "template": "crazy_zootopia", "mode": "normalforward", "id": 0, "length": "zero_context", "d": 2},
    {"problem": "The number of regional medical school in Brook City equals 4. The number of public highschool in "
                "Brook City equals 2 more than the number of regional medical school in Brook City.",
     "question": "How many public highschool does Brook City have?",
     "solution": "Define regional medical school in Brook City as R; so R = 4. Define public highschool in Brook "
                 "City as K; so K = R + 2 = 4 + 2 = 6. Answer: 6.",
     "op": 2, "template": "teachers_in_school", "mode": "normalforward", "id": 1, "length": "zero_context", "d": 2},
    {"problem": "The number of calm comedy in Rivet Festival equals 2. The number of bold drama in Rivet Festival "
                "equals 3. The total number of movies in Rivet Festival equals 2 times the sum of calm comedy and "
                "bold drama in Rivet Festival.",
     "question": "What is the total number of movies in Rivet Festival?",
     "solution": "Define calm comedy in Rivet Festival as q; so q = 2. Define bold drama in Rivet Festival as m; so "
                 "m = 3. Define total number of movies in Rivet Festival as T; h = q + m = 2 + 3 = 5; so T = 2 * h "
                 "= 2 * 5 = 10. Answer: 10.",
     "op": 3, "template": "movie_festival_awards", "mode": "normalforward", "id": 2, "length": "zero_context", "d": 3},
    {"problem": "The number of adult fox in Pine Zoo equals 2 plus the number of adult owl in Pine Zoo. The number "
                "of adult cat in Pine Zoo equals 3 times the number of adult fox in Pine Zoo. The number of adult cat "
                "in Pine Zoo equals 18.",
     "question": "How many adult owl does Pine Zoo have?",
     "solution": f"The question is difficult, so we use equations to solve it. Define adult owl in Pine Zoo as x; "
                 f"{TAIL} Define adult fox in Pine Zoo as b; so b = 2 + x = x + 2. Define adult cat in Pine Zoo as "
                 f"c; so c = 3 * b = (3) * (x + 2) = 3*x + 6. We know c = 18, so we have 3*x + 6 = 18 and we solve "
                 f"it through the following steps: Simplifying the equation: 3*x + 6 = 18. Move all terms to one "
                 f"side: 3*x - 12 = 0. Isolate the term with x: 3*x = 12. Divide both sides by 3: x = 12 / 3. "
                 f"Solution: x = 4. Answer: 4.",
     "op": 3, "template": "crazy_zootopia", "mode": "forwardreverse", "id": 3, "length": "zero_context", "d": 3},
    {"problem": "The number of public highschool in Brook City equals 5 minus the number of culinary teacher in "
                "Brook City. The number of public highschool in Brook City equals 2.",
     "question": "How many culinary teacher does Brook City have?",
     "solution": f"The question is difficult, so we use equations to solve it. Define culinary teacher in Brook City "
                 f"as x; {TAIL} Define public highschool in Brook City as K; so K = 5 - x. We know K = 2, so we "
                 f"have 5 - x = 2 and we solve it through the following steps: Simplifying the equation: 5 - x = 2. "
                 f"Move all terms to one side: 3 - x = 0. Isolate the term with x: -1*x = -3. Divide both sides by "
                 f"-1: x = -3 / -1. Solution: x = 3. Answer: 3.",
     "op": 2, "template": "teachers_in_school", "mode": "forwardreverse", "id": 4, "length": "zero_context", "d": 2},
    {"problem": "The number of calm comedy in Rivet Festival equals 4. The total number of movies in Rivet Festival "
                "equals 9.",
     "question": "How many bold drama does Rivet Festival have?",
     "solution": f"The question is difficult, so we use equations to solve it. Define bold drama in Rivet Festival "
                 f"as x; {TAIL} Define calm comedy in Rivet Festival as q; so q = 4. Define total number of movies "
                 f"in Rivet Festival as T; so T = q + x = 4 + x = x + 4. We know T = 9, so we have x + 4 = 9 and we "
                 f"solve it through the following steps: Simplifying the equation: x + 4 = 9. Move all terms to one "
                 f"side: x - 5 = 0. Isolate the term with x: 1*x = 5. Divide both sides by 1: x = 5 / 1. Solution: "
                 f"x = 5. Answer: 5.",
     "op": 3, "template": "movie_festival_awards", "mode": "forwardreverse", "id": 5, "length": "zero_context", "d": 3},
]
# well-formed rows whose graph cannot be rebuilt: reported and left out
CORRUPTED = [
    dict(ROWS[0], id=10, solution="Define adult owl in Pine Zoo as a; so a = 3. Define adult fox in Pine Zoo as b; so "
                                  "b = 2 * z = 6. Answer: 6."),
    dict(ROWS[0], id=11, solution="Answer: 6."),
    dict(ROWS[1], id=12, solution=ROWS[1]["solution"].replace("Answer: 6.", "Answer: 7.")),
]


def write_jsonl(path, rows, raw_lines=()):
    with open(path, "wb") as f:
        for row in rows:
            f.write((json.dumps(row) + "\n").encode())
        for line in raw_lines:
            f.write(line)
    return str(path)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("released")
    os.makedirs(root / "in")
    write_jsonl(root / "in" / "part-0.jsonl", ROWS[:3] + CORRUPTED[:2])
    # the second file: another extra column (only in some rows) and a row repeating a problem of the first
    extra = [dict(ROWS[3], meta={"seed": 7}), *ROWS[4:], *CORRUPTED[2:], dict(ROWS[0], id=20)]
    pq.write_table(__import__("pyarrow").Table.from_pylist(extra), root / "in" / "part-1.parquet")
    result = import_released(str(root / "in"), str(root / "out"), shard_size=2, quiet=True)
    return root, result


def test_import_rebuilds_every_graph_and_reports_the_rest(imported):
    root, result = imported
    assert result["rows"] == 6 and result["skipped"] == 4
    rows = load_rows(str(root / "out"), columns=("id", "solution", "answer", "graph", "op", "context", "mode",
                                                 "prompt", "template", "source_id", "source_mode", "length", "d"))
    assert sorted(r["source_id"] for r in rows) == [0, 1, 2, 3, 4, 5]
    assert {(r["template"], r["context"], r["mode"]) for r in rows} == {
        (t, c, m) for t, c in (("crazy_zootopia", "zoo"), ("teachers_in_school", "school"),
                               ("movie_festival_awards", "festival")) for m in ("forward", "reverse")}
    for row in rows:
        report = verify(row["solution"], GoldGraph.from_graph(row["graph"]))
        assert report.process_reward == 1.0 and report.answer_correct, row["solution"]
        assert row["prompt"].startswith("<question> ") and row["prompt"].endswith("</question> <solution>")
        assert len(row["id"]) == 20 and row["length"] == "zero_context"
    reverse = next(r for r in rows if r["source_id"] == 3)
    graph = json.loads(reverse["graph"])
    assert graph["hidden"] == "adult owl in pine zoo" and reverse["answer"] == "4"
    assert [(n["name"], n["value"], n["parents"]) for n in graph["nodes"]] == [
        ("adult owl in pine zoo", 4, []), ("adult fox in pine zoo", 6, ["adult owl in pine zoo"]),
        ("adult cat in pine zoo", 18, ["adult fox in pine zoo"])]
    festival = json.loads(next(r for r in rows if r["source_id"] == 2)["graph"])
    assert festival["nodes"][-1]["parents"] == ["bold drama in rivet festival", "calm comedy in rivet festival"]
    report = json.loads((root / "out" / "report.json").read_text())
    reasons = sorted((os.path.basename(s["file"]), s["line"], s["reason"]) for s in report["skipped_rows"])
    assert reasons == [("part-0.jsonl", 4, "step 'adult fox in pine zoo' uses a letter no step defined"),
                       ("part-0.jsonl", 5, "no steps parse"),
                       ("part-1.parquet", 4, "the answer 7 is not the value of 'public highschool in brook city'"),
                       ("part-1.parquet", 5, "the same problem as part-0.jsonl:1")]
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert manifest["rows"] == 6 and manifest["skipped"] == 4 and manifest["imported_from"] == "paper"
    schemas = {str(pq.read_schema(root / "out" / s["file"])) for s in manifest["shards"]}
    assert len(schemas) == 1  # every shard alike, whichever columns its rows had
    meta = load_rows(str(root / "out"), columns=("source_id", "meta"))
    assert {r["source_id"]: r["meta"] for r in meta}[3] == '{"seed": 7}' and meta[0]["meta"] is None


def test_import_twice_changes_nothing_and_resumes_after_a_kill(imported):
    root, _ = imported
    out = root / "out"
    before = {name: (out / name).read_bytes() for name in sorted(os.listdir(out))}
    again = import_released(str(root / "in"), str(out), shard_size=2, quiet=True)
    assert again["written"] == 0 and again["rows"] == 6
    assert {name: (out / name).read_bytes() for name in sorted(os.listdir(out))} == before
    # a kill before the end: one shard and the manifest missing, a partial file left behind
    shard = sorted(n for n in before if n.endswith(".parquet"))[1]
    os.unlink(out / shard)
    os.unlink(out / "manifest.json")
    (out / ".partial-x.parquet").write_bytes(b"half")
    resumed = import_released(str(root / "in"), str(out), shard_size=2, quiet=True)
    assert resumed["written"] == 1
    after = {name: (out / name).read_bytes() for name in sorted(os.listdir(out)) if name != "manifest.json"}
    assert after == {k: v for k, v in before.items() if k != "manifest.json"}
    with pytest.raises(ReleasedDataError, match="holds a different import"):
        import_released(str(root / "in"), str(out), shard_size=3, quiet=True)


@pytest.mark.parametrize("case, expected", [
    ("missing", r"part.jsonl:2: missing field\(s\) template, mode"),
    ("template", r"part.jsonl:2: field template 'space_station' is not one of crazy_zootopia"),
    ("mode", r"part.jsonl:2: field mode 'backward' is not one of normalforward, forwardreverse"),
    ("json", r"part.jsonl:2: not valid JSON"),
    ("utf8", r"part.jsonl:2: not UTF-8"),
    ("empty", r"part.jsonl: empty \(no rows\)"),
    ("op", r"part.jsonl:2: field op 'three' is not a positive whole number"),
])
def test_import_bad_input_names_file_line_field_and_writes_nothing(tmp_path, case, expected):
    good = [ROWS[0]]
    bad = {"missing": ([{k: v for k, v in ROWS[1].items() if k not in ("template", "mode")}], ()),
           "template": ([dict(ROWS[1], template="space_station")], ()),
           "mode": ([dict(ROWS[1], mode="backward")], ()),
           "json": ([], [b'{"problem": "x", \n']),
           "utf8": ([], [b'{"problem": "\xff\xfe"}\n']),
           "empty": None,
           "op": ([dict(ROWS[1], op="three")], ())}[case]
    os.makedirs(tmp_path / "in")
    if bad is None:
        write_jsonl(tmp_path / "in" / "part.jsonl", [])
    else:
        write_jsonl(tmp_path / "in" / "part.jsonl", good + bad[0], bad[1])
    write_jsonl(tmp_path / "in" / "another.jsonl", ROWS[:2])  # earlier in name order: would be written first
    with pytest.raises(ReleasedDataError, match=expected):
        import_released(str(tmp_path / "in"), str(tmp_path / "out"), quiet=True)
    assert not os.path.exists(tmp_path / "out")


def test_import_output_and_input_directories_inside_each_other(tmp_path):
    import datetime

    write_jsonl(tmp_path / "part.jsonl", [dict(r, source_id=f"s{i}", big=2 ** 70, when=None) for i, r in enumerate(ROWS)])
    pq.write_table(__import__("pyarrow").Table.from_pylist([dict(ROWS[0], id=99, when=datetime.date(2025, 12, 8),
                                                                 problem=ROWS[0]["problem"] + " ")]),
                   tmp_path / "dated.parquet")
    first = import_released(str(tmp_path), str(tmp_path / "out"), quiet=True)  # --out inside --in: not input
    again = import_released(str(tmp_path), str(tmp_path / "out"), quiet=True)
    assert first["rows"] == again["rows"] == 6 and again["written"] == 0 and first["skipped"] == 1  # a repeat
    rows = load_rows(str(tmp_path / "out"), columns=("source_id", "source_source_id", "big", "when"))
    by_id = {r["source_id"]: (r["source_source_id"], r["big"], r["when"]) for r in rows}
    assert by_id[1] == ("s1", str(2 ** 70), None)  # released id and source_id both kept; a huge int as text
    assert by_id[99] == (None, None, '"2025-12-08"')  # dated.parquet sorts first: its row is kept, ROWS[0] repeats
    os.makedirs(tmp_path / "in" / "released")
    write_jsonl(tmp_path / "in" / "released" / "part.jsonl", ROWS)  # --in inside --out: read
    assert import_released(str(tmp_path / "in" / "released"), str(tmp_path / "in"), quiet=True)["rows"] == 6
    with pytest.raises(ReleasedDataError, match="the same directory as --in"):
        import_released(str(tmp_path / "in"), str(tmp_path / "in"), quiet=True)


def test_import_command_line_reports_one_line_error(tmp_path, python):
    write_jsonl(tmp_path / "bad.jsonl", [dict(ROWS[0], mode="sideways")])
    proc = subprocess.run([python, "-m", "interplay_verl.cli", "import", "--format", "paper", "--in",
                           str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"interplay-verl import: {tmp_path / 'bad.jsonl'}:1: field mode 'sideways' is not "
                                   "one of normalforward, forwardreverse")


# ------------------------------------------------------------------ semantics="paper": the released reward, by hand
F = ("Define adult owl in Pine Zoo as a; so a = 3. Define adult fox in Pine Zoo as b; so b = a + a = 3 + 3 = 6. "
     "Answer: 6.")
R = ROWS[3]["solution"]


def body(solution):
    return solution.rsplit("Answer:", 1)[0].strip()


def both(pred, answer, gold_solution, graph=None, **kwargs):
    extra = {"gold_solution": gold_solution}
    if graph is not None:
        extra["graph"] = graph
    return (compute_score("t", pred, answer, extra, semantics="paper", **kwargs),
            compute_score("t", pred, answer, extra, **kwargs))


@pytest.mark.parametrize("pred, paper_score, ours_score", [
    # the first <answer>...</answer> (released) vs the last (ours)
    (f"{body(F)} </solution> <answer> 6 </answer> <answer> 7 </answer>", 1.0, 0.0),
    # an unclosed tail: the released outcome accepts it, ours needs the closing tag
    (f"{body(F)} </solution> <answer> 6", 1.0, 0.0),
    # strings (released) vs numbers (ours); the released reward strips every trailing period
    (f"{body(F)} </solution> <answer> 6.0 </answer>", 0.0, 1.0),
    (f"{body(F)} </solution> <answer> 6. </answer>", 1.0, 0.0),
    (f"{body(F)} </solution> <answer> 6.. </answer>", 1.0, 0.0),
    # names: exact after trimming (released: missing + extra + the fox's parents, R_pv 0, so 0.2) vs ours
    (f"{body(F).replace('adult owl', 'Adult Owl')} </solution> <answer> 6 </answer>", 0.2, 1.0),
    (f"{body(F).replace('Define adult owl', 'Define the adult owl')} </solution> <answer> 6 </answer>", 0.2, 1.0),
    # parents as sets (released: {owl} == {owl}) vs multisets (ours: (owl) != (owl, owl): R_pv 0.5 -> 0.6)
    (f"{body(F).replace('a + a = 3 + 3', '2 * a = 2 * 3')} </solution> <answer> 6 </answer>", 1.0, 0.6),
])
def test_paper_semantics_differences_by_hand(pred, paper_score, ours_score):
    theirs, ours = both(pred, "6", F)
    assert theirs["score"] == pytest.approx(paper_score) and ours["score"] == pytest.approx(ours_score)
    assert theirs["reward_error"] == ours["reward_error"] == 0.0


def test_paper_semantics_reverse_steps_by_hand():
    graph = paper.read_graph(R)
    # a reverse step's value is the last literal number of its expression, not its value at x; its parents
    # are every letter in the step, so the cat's (first expression "3 * b") gain the hidden owl
    assert graph.nodes == {"adult owl in Pine Zoo": (4.0, frozenset()),
                           "adult fox in Pine Zoo": (2.0, frozenset({"adult owl in Pine Zoo"})),
                           "adult cat in Pine Zoo": (18.0, frozenset({"adult fox in Pine Zoo", "adult owl in Pine Zoo"}))}
    ours = parse_solution(R).nodes
    assert ours["adult fox in pine zoo"].value == 6 and ours["adult cat in pine zoo"].parents == ("adult fox in pine zoo",)
    # one wrong final solve step: released R_pv = 1 - (owl's value + the answer) / 3 = 1/3; ours 0
    wrong = R.replace("Solution: x = 4. Answer: 4.", "Solution: x = 5. </solution> <answer> 5 </answer>")
    theirs, mine = both(wrong, "4", R)
    assert theirs["process"] == pytest.approx(1 / 3) and theirs["wrong_value"] == 1.0 and theirs["score"] == 0.0
    assert mine["process"] == 0.0 and mine["wrong_value"] == 3.0


def test_paper_semantics_without_gold_falls_back_to_the_outcome():
    pred = f"{body(F)} </solution> <answer> 6 </answer>"
    theirs = compute_score("t", pred, "6", {}, semantics="paper")
    ours = compute_score("t", pred, "6", {})
    assert (theirs["process"], theirs["score"]) == (1.0, 1.0)
    assert (ours["process"], ours["score"]) == (0.0, pytest.approx(0.2))  # gated: alpha * outcome
    strict = compute_score("t", f"{body(F).replace('a + a = 3 + 3', '2 * a = 2 * 3').replace('so a = 3', 'so a = 4')} "
                           "</solution> <answer> 6 </answer>", "6", {"gold_solution": F}, semantics="paper",
                           variant="strict")
    assert strict["score"] == 0.0 and strict["outcome"] == 1.0  # the released strict arm: a mismatch zeroes


def test_paper_semantics_gold_lookup_and_a_gold_without_steps():
    pred = f"{body(F)} </solution> <answer> 6 </answer>"
    # ground_truth["solution"] first, an empty one falls through to extra_info, as the released reward
    wrong_gold = F.replace("so a = 3", "so a = 4")
    assert compute_score("t", pred, {"answer": "6", "solution": wrong_gold}, {"gold_solution": F},
                         semantics="paper")["process"] == pytest.approx(0.5)
    assert compute_score("t", pred, {"answer": "6", "solution": ""}, {"gold_solution": F},
                         semantics="paper")["process"] == 1.0
    # a gold of no steps: |V| counts as 1, so two extra steps cost 1 and the strict arm zeroes
    no_steps = compute_score("t", pred, "6", {"gold_solution": "Answer: 6."}, semantics="paper", variant="strict")
    assert (no_steps["process"], no_steps["outcome"], no_steps["score"]) == (0.0, 1.0, 0.0)


def test_paper_semantics_never_raises_never_stalls_and_checks_its_name():
    gold_answer = f"{body(F)} </solution> <answer> 6 </answer>"
    for junk in (None, b"\xff", "Define " * 5000 + "as x;", "<answer>" * 100, "x = 2 ** 999999 = 1",
                 "Define a " * 2000, gold_answer + " <answer>" * 3000, gold_answer + " Define a" * 2000):
        start = time.perf_counter()
        out = compute_score("t", junk, "6", {"gold_solution": F}, semantics="paper")
        assert time.perf_counter() - start < 2.0, repr(junk)[:40]  # the released pattern takes minutes here
        assert out["reward_error"] == 0.0
    assert compute_score("t", gold_answer + " Define a" * 2000, "6", {"gold_solution": F},
                         semantics="paper")["outcome"] == 1.0
    assert compute_score("t", "x", "6", {}, semantics="papers")["reward_error"] == 1.0


def test_paper_define_scan_matches_the_released_pattern():
    """``_defines`` is the released define pattern without its backtracking: same matches on random text."""
    import random
    import re

    pattern = re.compile(r"Define\s+(.*?)\s+(?:as|a)\s+(?:[A-Za-z]+\s+)*([A-Za-z]);", re.I | re.S)
    pieces = ["Define ", "define ", "DEFINE ", "as ", "a ", "As ", "x;", "b;", " ", "  ", "\n", "foo ", "bar", "x",
              ";", "ab ", "a", "s", "Define", "as", "."]
    rng = random.Random(0)
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        expected = [(m.start(), m.end(), " ".join(m.group(1).split()), m.group(2)) for m in pattern.finditer(text)]
        assert [(a, b, " ".join(name.split()), letter) for a, b, name, letter in paper._defines(text)] == expected, text


# ------------------------------------------------------------------ the released checkpoint layout
@pytest.fixture(scope="module")
def released(tmp_path_factory):
    from interplay_verl.testing.assets import build_released_layout

    return build_released_layout(str(tmp_path_factory.mktemp("released_model")))


def test_both_layouts_decode_to_what_the_reward_scores(released):
    from interplay_verl.tokenizer import load_tokenizer

    gold = ROWS[0]["solution"].replace("Answer: 6.", "</solution> <answer> 6 </answer>")
    paper_tok, ours_tok = load_tokenizer(released["released"]), load_tokenizer(released["ours"])
    ids = paper_tok(gold, add_special_tokens=False)["input_ids"]
    assert ids == ours_tok(gold, add_special_tokens=False)["input_ids"]
    assert paper_tok.convert_ids_to_tokens(paper_tok("x = 170", add_special_tokens=False)["input_ids"])[-1] == "170"
    ids = ids + [paper_tok.eos_token_id, paper_tok.pad_token_id, paper_tok.pad_token_id]
    assert completion_text(paper_tok, ids) == completion_text(ours_tok, ids) == gold
    stock = paper_tok.decode(ids, skip_special_tokens=True)  # what verl's own managers would score
    assert "<answer>" not in stock and compute_score("t", stock, "6", {"gold_solution": ROWS[0]["solution"]})["score"] == 0
    assert compute_score("t", completion_text(paper_tok, ids), "6", {"gold_solution": ROWS[0]["solution"]})["score"] == 1


def test_model_names_resolve_offline(released, tmp_path, monkeypatch):
    from interplay_verl.models import MIRROR_ENV, ModelNotFound, resolve_model

    repo, sub = released["repo"], released["subfolder"]
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", released["hub_cache"])
    cached = resolve_model(repo, sub)
    assert cached.startswith(released["hub_cache"]) and cached.endswith(sub)
    assert resolve_model(f"{repo}:{sub}") == cached
    monkeypatch.setenv(MIRROR_ENV, released["mirror"])
    assert resolve_model(repo, sub) == released["released"]
    assert resolve_model(released["ours"]) == released["ours"]
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    with pytest.raises(ModelNotFound, match=r"--model outputs/run/hf: no such directory"):
        resolve_model("outputs/run/hf")
    with pytest.raises(ModelNotFound, match=r"not a local directory, and not found offline .*hf download "
                                            r"Org/model --include 'step-5/\*'"):
        resolve_model("Org/model", "step-5")
    with pytest.raises(ModelNotFound, match="no config.json"):
        resolve_model(str(tmp_path))


def test_evaluate_scores_both_layouts_identically(released, imported, tmp_path):
    from interplay_verl.evaluation import evaluate

    rows = str(imported[0] / "out")
    options = dict(n_samples=6, temperature=1.0, max_new_tokens=48, seed=3, backend="hf", quiet=True)
    reports = {name: evaluate(released[name], rows, str(tmp_path / name), **options) for name in ("released", "ours")}
    samples = {name: pq.read_table(tmp_path / name / "samples.parquet").to_pylist() for name in reports}
    assert samples["released"] == samples["ours"]
    assert any(tag in s["completion"] for s in samples["ours"] for tag in ("<answer>", "</solution>", "<question>"))
    for key in ("answer_accuracy", "verified", "process_reward", "by_op"):
        assert reports["released"][key] == reports["ours"][key]


def test_imported_rows_through_the_command_line(released, imported, tmp_path, python):
    """evaluate (paper semantics), rl-data and filter on imported rows, end to end."""
    rows = str(imported[0] / "out")
    env = dict(os.environ, INTERPLAY_VERL_MODEL_MIRROR=released["mirror"])

    def run(*args):
        proc = subprocess.run([python, "-m", "interplay_verl.cli", *args], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    run("evaluate", "--model", released["repo"], "--subfolder", released["subfolder"], "--rows", rows,
        "--out", str(tmp_path / "eval"), "--backend", "hf", "--max-new-tokens", "24", "--semantics", "paper",
        "--quiet")
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["semantics"] == "paper" and report["problems"] == 6
    assert {op: v["problems"] for op, v in report["by_op"].items()} == {"2": 3, "3": 3}
    assert "scored with the paper reading" in (tmp_path / "eval" / "report.md").read_text()
    assert run("rl-data", "--rows", rows, "--out", str(tmp_path / "rl.parquet"))["rows"] == 6
    extra = pq.read_table(tmp_path / "rl.parquet").column("extra_info").to_pylist()
    assert all(e["gold_solution"] and e["graph"] for e in extra)
    run("filter", "--model", f"{released['repo']}:{released['subfolder']}", "--rows", rows, "--out",
        str(tmp_path / "filter"), "--backend", "hf", "--n-max", "2", "--k", "2", "--give-up-after", "2",
        "--tau-1", "1", "--tau-k", "0", "--max-new-tokens", "16", "--semantics", "paper", "--quiet")
    assert pq.read_table(tmp_path / "filter" / "rl.parquet").num_rows == 6  # a band that keeps everything
    assert json.loads((tmp_path / "filter" / "manifest.json").read_text())["config"]["semantics"] == "paper"


def test_import_is_a_cli_command(python):
    proc = subprocess.run([python, "-m", "interplay_verl.cli", "import", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--format {paper}" in proc.stdout


def test_verl_workers_get_the_released_tokenizer_as_saved(released, tiny_model, tmp_path):
    """AutoTokenizer (what verl's workers call) rebuilds a transformers-4 tokenizer beside a qwen2 config;
    RL points verl at a tokenizer-only copy, which loads as saved."""
    from transformers import AutoTokenizer

    from interplay_verl.tokenizer import load_tokenizer
    from interplay_verl.train.rl import tokenizer_overrides

    text = ROWS[2]["problem"] + " 170"
    faithful = load_tokenizer(released["released"])(text, add_special_tokens=False)["input_ids"]
    assert AutoTokenizer.from_pretrained(released["released"])(text, add_special_tokens=False)["input_ids"] != faithful
    (override,) = tokenizer_overrides(released["released"], str(tmp_path / "rl"))
    key, _, copy = override.partition("=")
    assert key == "actor_rollout_ref.model.tokenizer_path" and copy == str(tmp_path / "rl" / "tokenizer")
    assert AutoTokenizer.from_pretrained(copy)(text, add_special_tokens=False)["input_ids"] == faithful
    assert tokenizer_overrides(tiny_model, str(tmp_path / "ours")) == []  # ours loads the same either way


def test_a_profile_draws_candidates_and_evaluation_from_imported_rows(imported, tmp_path):
    from interplay_verl.pipeline import Pipeline
    from interplay_verl.pipeline.config import PROFILES_DIR, PipelineConfigError, load, validate

    rows = str(imported[0] / "out")
    sets = [f"data.candidates_from={rows}", f"data.eval_from={rows}", "filter.ops=2-3", "filter.contexts=zoo,school",
            "filter.modes=[forward,reverse]", "filter.candidates_per_op=1", "evaluate.splits=[id]",
            "midtrain.enable=false", "evaluate.contexts=[zoo,festival]", "evaluate.modes=[forward,reverse]",
            "evaluate.per_op=5"]
    cfg = load(os.path.join(PROFILES_DIR, "smoke.yaml"), sets, environ={})
    Pipeline(cfg, out=str(tmp_path)).run(only=["eval_sets", "data", "candidates"])
    # the evaluation problems are drawn first (every zoo and festival row), the candidates from the rest
    evaluation = load_rows(str(tmp_path / "eval_sets"), columns=("op", "context", "mode", "generator_version"))
    assert sorted((r["op"], r["context"], r["mode"]) for r in evaluation) == [
        (2, "zoo", "forward"), (3, "festival", "forward"), (3, "festival", "reverse"), (3, "zoo", "reverse")]
    assert {r["generator_version"] for r in evaluation} == {"paper"}
    candidates = load_rows(str(tmp_path / "candidates"), columns=("op", "context", "mode", "generator_version"))
    assert sorted((r["op"], r["context"], r["mode"]) for r in candidates) == [
        (2, "school", "forward"), (2, "school", "reverse")]
    assert {r["generator_version"] for r in candidates} == {"paper"}
    only_taken = [*sets[:-3], "evaluate.contexts=[zoo,school]", "evaluate.modes=[forward,reverse]", "evaluate.per_op=5"]
    with pytest.raises(ValueError, match=r"no rows at ops \[2, 3\], contexts \['school', 'zoo'\], .* outside the \d+ "
                                         r"excluded ids"):
        Pipeline(load(os.path.join(PROFILES_DIR, "smoke.yaml"), only_taken, environ={}),
                 out=str(tmp_path / "taken")).run(only=["eval_sets", "data", "candidates"])
    with pytest.raises(PipelineConfigError, match=r"data.eval_from: .*nowhere: no parquet shards"):
        validate(load(os.path.join(PROFILES_DIR, "smoke.yaml"), ["data.eval_from=/nowhere"], environ={}))


@pytest.mark.slow  # a verl GRPO run
def test_grpo_from_a_released_checkpoint_tokenizes_as_saved(released, imported, tmp_path):
    """RL from the released layout: verl's workers get the tokenizer as saved (prompt lengths as
    ``load_tokenizer`` counts them, not as AutoTokenizer's rebuild would), the paper's reward reads
    the rollouts, and the checkpoints the run writes load with the released tokenization."""
    from transformers import AutoTokenizer

    from interplay_verl.data.rl import write_rl_parquet
    from interplay_verl.tokenizer import load_tokenizer, rebuilt_on_load
    from interplay_verl.train import rl
    from interplay_verl.train.launch import read_metrics

    rows = load_rows(str(imported[0] / "out"))
    train = write_rl_parquet(rows, str(tmp_path / "train.parquet"))
    out = str(tmp_path / "rl")
    result = rl.run("interplay_grpo_cpu", released["released"], train, train, out, "cpu", timeout=900, extra=[
        "trainer.total_training_steps=1", "data.train_batch_size=6", "actor_rollout_ref.actor.ppo_mini_batch_size=6",
        "data.max_response_length=32", "reward.custom_reward_function.reward_kwargs.semantics=paper",
        "trainer.val_before_train=False", "trainer.test_freq=-1"])
    assert result["steps"] == 1
    (step,) = [m["data"] for m in read_metrics(os.path.join(out, "metrics", "run-00.jsonl"))]

    def mean_length(tokenizer):
        return sum(len(tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]) for r in rows) / len(rows)

    faithful, rebuilt = mean_length(load_tokenizer(released["released"])), mean_length(
        AutoTokenizer.from_pretrained(released["released"]))
    assert faithful < rebuilt and step["prompt_length/mean"] == pytest.approx(faithful)
    assert 0.0 <= step["reward/process/mean"] <= 1.0 and step["reward/reward_error/mean"] == 0.0
    # the checkpoints verl wrote (re-saved by transformers 5) still load as the released tokenizer
    for checkpoint in (os.path.join(out, "hf"), os.path.join(out, "checkpoints", "global_step_1", "actor", "huggingface")):
        assert rebuilt_on_load(checkpoint) and mean_length(load_tokenizer(checkpoint)) == faithful


def test_training_a_checkpoint_on_a_corpus_of_another_vocabulary_is_refused(released, imported, tiny_model, tmp_path):
    from interplay_verl.corpus import build
    from interplay_verl.train.launch import StageConfigError
    from interplay_verl.train.pretrain import check_corpus_tokenizer

    rows = str(imported[0] / "out")
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    build(rows, tiny_model, ours, 256, quiet=True)
    check_corpus_tokenizer(ours, tiny_model)  # the same vocabulary: fine
    with pytest.raises(StageConfigError, match=r"was tokenized with .* whose vocabulary is not the model's"):
        check_corpus_tokenizer(ours, released["released"])
    build(rows, released["released"], theirs, 256, quiet=True)
    check_corpus_tokenizer(theirs, released["released"])


def test_sft_stages_from_a_released_checkpoint_hand_verl_the_tokenizer_as_saved(released, tiny_model, tmp_path):
    from transformers import AutoTokenizer

    from interplay_verl.tokenizer import load_tokenizer
    from interplay_verl.train import launch
    from interplay_verl.train.launch import check_overrides
    from interplay_verl.train.pretrain import load_config, stage_overrides

    stub = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "corpus_stub")
    cfg = load_config(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "configs",
                                   "midtrain_cpu.yaml"))
    overrides = stage_overrides(cfg, stub, released["released"], str(tmp_path / "mid"))
    (path,) = [o.split("=", 1)[1] for o in overrides if o.startswith("model.tokenizer_path=")]
    assert path == str(tmp_path / "mid" / "tokenizer")
    ids = AutoTokenizer.from_pretrained(path)(" 170", add_special_tokens=False)["input_ids"]  # as verl loads it
    assert ids == load_tokenizer(released["released"])(" 170", add_special_tokens=False)["input_ids"]
    assert ids != AutoTokenizer.from_pretrained(released["released"])(" 170", add_special_tokens=False)["input_ids"]
    check_overrides(launch.sft_overrides(overrides, cfg["device"], cfg.get("nproc", 1)))  # verl accepts the key
    assert "model.tokenizer_path=null" in stage_overrides(cfg, stub, tiny_model, str(tmp_path / "ours"))

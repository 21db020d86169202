"""The paper's findings as checks: how a change is read, when a check holds, how a verdict is reached."""

import os

import pandas as pd
import pytest

from interplay_verl import findings as F
from interplay_verl.pipeline.study import STUDIES_DIR, read_study


def frame(solved: dict[str, list[int]], op: int = 5, context: str = "zoo", verified=None, errors=None) -> pd.DataFrame:
    """Samples of problems ``p0, p1, ...``: ``solved[id]`` the outcome of each sample."""
    rows = []
    for pid, outcomes in solved.items():
        for i, outcome in enumerate(outcomes):
            rows.append({"id": f"{op}-{pid}", "op": op, "context": context, "outcome": outcome,
                         "verified": (verified or {}).get(pid, [0] * len(outcomes))[i],
                         "missing": (errors or {}).get(pid, 0), "extra": 0, "wrong_parents": 0})
    return pd.DataFrame(rows)


def problems(n: int, outcomes: list[int]) -> dict[str, list[int]]:
    return {f"p{i:02d}": list(outcomes) for i in range(n)}


def check(expect: str, k: int = 1, **kwargs) -> F.Check:
    return F.Check("t", ("a", "rl"), ("a", "base"), (5, 8), expect, k, **kwargs)


def measured(c: F.Check, after: pd.DataFrame, before: pd.DataFrame) -> dict:
    data = {("a", "rl"): after, ("a", "base"): before}
    return F.measure(c, lambda arm, ckpt: data.get((arm, ckpt)))


def test_a_change_on_every_problem_holds_and_is_read_on_verified_first():
    after = frame(problems(20, [1, 1]), verified=problems(20, [1, 0]))
    before = frame(problems(20, [0, 0]))
    result = measured(check("up"), after, before)
    assert (result["kind"], result["before"], result["after"], result["change"]) == ("verified", 0.0, 0.5, 0.5)
    assert result["holds"] is True and result["problems"] == 20 and result["bound"] is None
    assert measured(check("down"), after, before)["holds"] is False
    assert measured(check("not up"), after, before)["holds"] is False


def test_verified_at_the_floor_is_read_on_outcome_and_both_at_a_bound_say_nothing():
    after, before = frame(problems(20, [1, 1, 0])), frame(problems(20, [0, 1, 0]))
    result = measured(check("up", k=2), after, before)
    assert result["kind"] == "outcome" and result["k"] == 2  # verified is 0 everywhere
    assert (result["before"], result["after"], result["change"]) == (0.6667, 1.0, 0.3333)  # pass@2 of 1 and 2 of 3
    nothing = measured(check("not up"), frame(problems(20, [0, 0])), frame(problems(20, [0, 0])))
    assert nothing["bound"] == "floor" and nothing["holds"] is None  # solving none cannot show "does not raise"
    full = {f"p{i:02d}": [1, 1] for i in range(20)}
    ceiling = measured(check("not up", kinds=("outcome",)), frame(full), frame(full))
    assert ceiling["bound"] == "ceiling" and ceiling["holds"] is None  # nothing left to raise


def test_not_up_holds_only_when_the_interval_rules_out_a_rise():
    before = frame(problems(40, [0, 1]))
    same = measured(check("not up", kinds=("outcome",)), before, before)
    assert (same["change"], same["high"], same["holds"]) == (0.0, 0.0, True)
    few = {f"p{i:02d}": [1, 1] if i < 3 else [0, 1] for i in range(20)}  # +0.5 on 3 of 20 problems
    rise = measured(check("not up", kinds=("outcome",)), frame(few), frame(problems(20, [0, 1])))
    # not beyond the noise, but a rise of up to 0.15 is not ruled out either
    assert (rise["change"], rise["low"], rise["high"], rise["holds"]) == (0.075, 0.0, 0.15, None)


def test_a_check_that_cannot_be_read_is_not_run_with_the_reason():
    two = frame(problems(10, [1, 0]))
    assert measured(check("up", k=4, kinds=("outcome",)), two, two)["run"] is False  # pass@4 from 2 samples
    other = frame({"q1": [1, 0], "q2": [0, 0]})
    result = measured(check("up", kinds=("outcome",)), two, other)
    assert result == {"run": False, "why": "the two evaluations share no problem: a change needs the same "
                                           "held-out set"}


def test_errors_of_failed_or_unscored_samples_are_left_out():
    before = frame(problems(12, [0, 0]), errors={f"p{i:02d}": 1 for i in range(12)})
    after = frame(problems(12, [0, 0]))
    after["reward_error"] = 1  # the reward crashed on these samples: zeros that mean nothing
    after.loc[:21, "reward_error"] = 0  # the first 11 problems' samples were scored
    result = measured(check("down", k=0), after, before)
    assert (result["problems"], result["change"], result["holds"]) == (11, -1.0, True)
    after.loc[:19, "reward_error"] = 1
    assert measured(check("down", k=0), after, before)["holds"] is None  # one problem left: says nothing
    unscored = before.copy()
    unscored["missing"] = float("nan")
    assert measured(check("down", k=0), unscored, before)["run"] is False  # no sample counted


def test_a_mixed_change_inside_the_noise_is_inconclusive():
    half = {f"p{i:02d}": [1 if i % 2 else 0] for i in range(10)}
    other = {f"p{i:02d}": [0 if i % 2 else 1] for i in range(10)}
    result = measured(check("up", kinds=("outcome",)), frame(half), frame(other))
    assert result["change"] == 0.0 and result["low"] < 0 < result["high"] and result["holds"] is None


def test_structural_errors_are_read_per_sample_and_context_and_ops_select_samples():
    before = frame(problems(12, [0, 0]), errors={f"p{i:02d}": 2 for i in range(12)})
    after = frame(problems(12, [0, 0]))
    result = measured(check("down", k=0), after, before)
    assert (result["kind"], result["before"], result["after"], result["holds"]) == ("errors", 2.0, 0.0, True)
    school = pd.concat([frame(problems(12, [1])), frame({"s1": [1], "s2": [1]}, context="school")])
    assert measured(check("up", context="school", kinds=("outcome",)), school, school)["problems"] == 2
    elsewhere = frame(problems(12, [1]), op=12)  # outside the check's ops 5-8
    assert measured(check("up"), elsewhere, elsewhere) == {"run": False, "why": "no evaluated problem at these ops"}
    assert measured(check("up"), after, None) == {"run": False, "why": "arm or evaluation not in this run"}


@pytest.mark.parametrize("holds,expected", [
    ([True, True], "reproduced in direction"), ([True, None], "inconclusive"), ([True, False], "not reproduced"),
    ([None, False], "not reproduced"), ([], "inconclusive")])
def test_a_verdict_needs_every_check_that_ran_to_hold(holds, expected):
    checks = [check("up", result={"run": True, "holds": h, "kind": "verified"}) for h in holds]
    assert F.verdict(checks) == (expected, [])
    checks.append(check("up", result={"run": False, "why": "arm or evaluation not in this run"}))
    word, notes = F.verdict(checks)
    assert word == (expected if expected != "reproduced in direction" else "inconclusive")  # not every check ran
    assert notes == [f"{len(holds)} of {len(holds) + 1} checks ran"]


def test_a_verdict_says_when_it_rests_on_outcome():
    checks = [check("up", result={"run": True, "holds": True, "kind": k}) for k in ("verified", "outcome")]
    assert F.verdict(checks) == ("reproduced in direction", ["1 of them read on outcome, verified being at the floor"])



def test_a_verdict_says_how_many_checks_said_nothing():
    checks = [check("down", result={"run": True, "holds": False, "kind": "errors", "bound": None}),
              check("up", result={"run": True, "holds": None, "kind": "verified", "bound": "floor"}),
              check("up", result={"run": True, "holds": None, "kind": "verified", "bound": "floor"})]
    assert F.verdict(checks) == ("not reproduced", ["2 of them say nothing, at the floor"])


@pytest.mark.parametrize("name", ["extrapolation", "context", "compute", "reward"])
@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_every_check_names_arms_of_its_study(name, scale):
    """A renamed arm in a study file would leave its checks silently 'not run'."""
    study = read_study(os.path.join(STUDIES_DIR, f"{name}.yaml"), scale)
    arms = {a.name for a in study.arms}
    assert len(study.findings) == 1
    claim, checks = F.FINDINGS[study.findings[0]](study, 16)
    assert claim and checks
    assert {arm for c in checks for arm, _ in (c.after, c.before)} <= arms
    if name == "compute":  # the largest budget of the scale, found by the arms' grid points
        budget = {"tiny": 24, "small": 48, "paper": 954}[scale]
        assert {c.after[0] for c in checks} == {f"mid{f}_N{budget}" for f in (0.2, 0.5, 0.8)}
        assert checks[0].before == (f"full_rl_N{budget}", "rl")
    if name == "extrapolation":  # each range as the study file sets it
        assert checks[2].ops == ((11, 14) if scale != "paper" else (17, 20))
    if name == "context":
        assert [c.after[0] for c in checks] == ["f1_b0_rlB", "f1_b0.001_rlB", "f1_b0.01_rlB", "f1_b0.1_rlB"]


def test_a_study_report_states_each_check_and_the_verdict(tmp_path):
    """The extrapolation findings over arm directories holding evaluation samples."""
    from interplay_verl.study_report import write_report

    study = read_study(os.path.join(STUDIES_DIR, "extrapolation.yaml"), "smoke")  # arms edge, edge_ours
    study.figures = []
    base = pd.concat([frame(problems(10, [0, 0]), op=op) for op in (5, 6, 7, 8)])
    rl = pd.concat([frame(problems(10, [1, 0]), op=op) for op in (5, 6, 7, 8)])
    dirs = {}
    for arm in ("edge", "edge_ours"):
        dirs[arm] = str(tmp_path / arm)
        for sub, samples in (("eval_base", base), (os.path.join("evaluate", "rl"), rl)):
            os.makedirs(os.path.join(dirs[arm], sub))
            samples.to_parquet(os.path.join(dirs[arm], sub, "samples.parquet"))
    write_report(study, dirs, str(tmp_path / "report"))
    import json

    found = json.loads((tmp_path / "report" / "report.json").read_text())["findings"]
    assert [f["finding"] for f in found] == ["edge_of_competence"]
    ran = [c for c in found[0]["checks"] if c["run"]]
    assert len(ran) == 1 and ran[0]["what"].startswith("RL on the edge range vs the base, pass@1")
    assert (ran[0]["kind"], ran[0]["change"], ran[0]["holds"]) == ("outcome", 0.5, True)
    assert (found[0]["verdict"], found[0]["notes"]) == (
        "inconclusive", ["1 of 6 checks ran", "1 of them read on outcome, verified being at the floor"])
    text = (tmp_path / "report" / "report.md").read_text()
    assert "### edge_of_competence: inconclusive (1 of 6 checks ran; 1 of them read on outcome" in text
    assert "| outcome pass@1 | 0.000 | 0.500 | +0.5000 [+0.5000, +0.5000] | 40 | yes |" in text
    assert text.count("not run: arm or evaluation not in this run") == 5


def test_a_study_report_tables_each_arms_rl_against_the_checkpoint_it_started_from(tmp_path):
    """Compute arms: RL alone starts from the base (scored in two contexts, its RL samples shuffled and
    one problem missing), a mid-training arm from its mid checkpoint (its base, different, is not read),
    and a mid-training arm whose mid checkpoint was not evaluated is left out, not read against its base."""
    import copy
    import csv
    import json

    from interplay_verl.pipeline.config import load
    from interplay_verl.study_report import write_report

    study = read_study(os.path.join(STUDIES_DIR, "compute.yaml"), "small")  # M = 4: ID 2-4, edge 5-8
    study.figures = []
    profile = load(os.path.join(os.path.dirname(STUDIES_DIR), "profiles", "smoke.yaml"), environ={})
    for arm in study.arms:  # as compose sets it: the arms with a mid-training share mid-train
        study.configs[arm.name] = copy.deepcopy(profile)
        study.configs[arm.name].midtrain.enable = "f" in arm.point
    school = {f"q{i}": [0, 0] for i in range(10)}
    rl_alone = [frame(problems(10, [1, 1]), op=2), frame(problems(9, [1, 0])),
                frame({q: [1, 1] for q in school}, context="school")]
    evaluations = {
        "full_rl_N48": {"eval_base": [frame(problems(10, [1, 1]), op=2), frame(problems(10, [0, 0])),
                                      frame(school, context="school")],
                        "evaluate/rl": [pd.concat(rl_alone).sample(frac=1, random_state=0)]},
        "mid0.5_N48": {"eval_base": [frame(problems(10, [0, 0]))], "eval_mid": [frame(problems(10, [1, 1]))],
                       "evaluate/rl": [frame(problems(10, [0, 0]))]},
        "mid0.2_N48": {"eval_base": [frame(problems(10, [0, 0]))], "evaluate/rl": [frame(problems(10, [1, 1]))]}}
    dirs = {}
    for arm, evals in evaluations.items():
        dirs[arm] = str(tmp_path / arm)
        for sub, frames in evals.items():
            os.makedirs(os.path.join(dirs[arm], sub))
            pd.concat(frames).to_parquet(os.path.join(dirs[arm], sub, "samples.parquet"))
            with open(os.path.join(dirs[arm], sub, "report.json"), "w") as f:
                json.dump({"pass_at_k": {"k": [1, 2]}}, f)

    def table() -> dict:
        write_report(study, dirs, str(tmp_path / "report"))
        with open(tmp_path / "report" / "arm_changes.csv") as f:
            return {(r["arm"], r["split"], r["context"], r["measure"]): r for r in csv.DictReader(f)}

    rows = table()
    assert {(a, s, c) for a, s, c, _ in rows} == {  # contexts one by one only where both evaluations hold several
        ("full_rl_N48", "id", "all"), ("full_rl_N48", "ood_edge", "all"), ("full_rl_N48", "ood_edge", "zoo"),
        ("full_rl_N48", "ood_edge", "school"), ("mid0.5_N48", "ood_edge", "all")}
    assert len(rows) == 5 * 4  # verified and outcome, pass@1 and pass@2
    both = rows["full_rl_N48", "ood_edge", "all", "outcome pass@1"]
    assert (both["start"], both["before"], both["after"], both["change"], both["problems"]) == (
        "base", "0.0", "0.7632", "0.7632", "19")  # (9 x 0.5 + 10 x 1) / 19, paired by problem id
    assert 0.5 <= float(both["low"]) < 0.7632 < float(both["high"]) <= 1.0 and both["beyond_noise"] == "True"
    assert rows["full_rl_N48", "ood_edge", "zoo", "outcome pass@2"]["change"] == "1.0"
    assert rows["full_rl_N48", "id", "all", "outcome pass@1"]["change"] == "0.0"
    mid = rows["mid0.5_N48", "ood_edge", "all", "outcome pass@1"]
    assert (mid["start"], mid["before"], mid["after"], mid["low"], mid["high"]) == ("mid", "1.0", "0.0", "-1.0", "-1.0")

    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Each arm's RL against its start" in text
    assert ("| budget 48: RL only, from the base | base | ood_edge (5-8, school) | 0.000 → 0.000, +0.000 [+0.000, +0.000] "
            "| 0.000 → 1.000, **+1.000 [+1.000, +1.000]** | 0.000 → 0.000, +0.000 [+0.000, +0.000] "
            "| 0.000 → 1.000, **+1.000 [+1.000, +1.000]** |") in text
    assert ("| budget 48: 0.5 mid-training, 24 RL steps | mid | ood_edge (5-8) | 0.000 → 0.000, +0.000 [+0.000, +0.000] "
            "| 1.000 → 0.000, **-1.000 [-1.000, -1.000]** |") in text
    assert json.loads((tmp_path / "report" / "report.json").read_text())["arm_changes"].endswith("arm_changes.csv")

    study.configs = {}  # a report read without the study's configurations: a mid evaluation says where RL started
    rows = table()
    assert rows["mid0.5_N48", "ood_edge", "all", "outcome pass@1"]["start"] == "mid"
    assert rows["mid0.2_N48", "ood_edge", "all", "outcome pass@1"]["start"] == "base"

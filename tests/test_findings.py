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
    assert result["holds"] is True and result["problems"] == 20 and not result["floor"]
    assert measured(check("down"), after, before)["holds"] is False
    assert measured(check("not up"), after, before)["holds"] is False


def test_verified_at_the_floor_is_read_on_outcome_and_both_at_the_floor_say_nothing():
    after, before = frame(problems(20, [1, 1])), frame(problems(20, [0, 1]))
    result = measured(check("up", k=2), after, before)
    assert result["kind"] == "outcome" and result["k"] == 2 and result["change"] == 0.0  # pass@2 of 1-of-2 is 1
    assert result["holds"] is None  # up claimed, no change: inconclusive
    assert measured(check("not up", k=2), after, before)["holds"] is True
    nothing = measured(check("not up"), frame(problems(20, [0, 0])), frame(problems(20, [0, 0])))
    assert nothing["floor"] and nothing["holds"] is None  # a model that solves none cannot show "does not raise"


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
    assert measured(check("up"), elsewhere, elsewhere) == {"run": False}
    assert measured(check("up"), after, None) == {"run": False}


@pytest.mark.parametrize("holds,expected", [
    ([True, True], "reproduced in direction"), ([True, None], "inconclusive"), ([True, False], "not reproduced"),
    ([None, False], "not reproduced"), ([], "inconclusive")])
def test_a_verdict_needs_every_check_that_ran_to_hold(holds, expected):
    checks = [check("up", result={"run": True, "holds": h}) for h in holds]
    checks.append(check("up", result={"run": False}))  # not run: ignored
    assert F.verdict(checks) == expected


@pytest.mark.parametrize("name", ["extrapolation", "context", "compute", "reward"])
@pytest.mark.parametrize("scale", ["tiny", "small", "paper"])
def test_every_check_names_arms_of_its_study(name, scale):
    """A renamed arm in a study file would leave its checks silently 'not run'."""
    try:
        study = read_study(os.path.join(STUDIES_DIR, f"{name}.yaml"), scale)
    except Exception as exc:  # a study without this scale
        assert f"no scale {scale!r}" in str(exc)
        return
    arms = {a.name for a in study.arms}
    assert len(study.findings) == 1
    extra = {"budget": study.vars["Nmax"]} if name == "compute" else {}
    claim, checks = F.FINDINGS[study.findings[0]](int(study.vars["M"]), 16, **extra)
    assert claim and checks
    assert {arm for c in checks for arm, _ in (c.after, c.before)} <= arms


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
    assert found[0]["verdict"] == "reproduced in direction"  # every check that ran holds
    text = (tmp_path / "report" / "report.md").read_text()
    assert "### edge_of_competence: reproduced in direction" in text
    assert "| outcome pass@1 | 0.000 | 0.500 | +0.5000 [+0.5000, +0.5000] | 40 | yes |" in text
    assert text.count("not run (arm or ops not in this run)") == 5

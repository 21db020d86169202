"""benchmarks/suite_times.py: the suite's time per module and its slowest tests, from pytest's JUnit file."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def suite_times():
    spec = importlib.util.spec_from_file_location("suite_times", os.path.join(ROOT, "benchmarks", "suite_times.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def junit(path, cases: list) -> str:
    """A pytest JUnit file of (module, test, seconds) cases."""
    path.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest">' + "".join(
        f'<testcase classname="tests.{m}" name="{n}" time="{s}"/>' for m, n, s in cases) + "</testsuite></testsuites>")
    return str(path)


def test_times_add_up_per_module(suite_times, tmp_path, capsys):
    cases = [("test_grpo", "test_a", 120.5), ("test_grpo", "test_b", 30), ("test_study", "test_c[x]", 49.5)]
    summary = suite_times.main([junit(tmp_path / "junit.xml", cases), "--top", "2"])
    assert summary == {"tests": 3, "seconds": 200.0, "modules": {"test_grpo": 150.5, "test_study": 49.5}}
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1]) == summary
    assert "test_grpo::test_a" in out and "60.2%" in out and "test_grpo::test_b" not in out  # the top 2 only


def test_a_missing_file_says_how_to_make_one(suite_times, tmp_path, capsys):
    with pytest.raises(SystemExit):
        suite_times.main([str(tmp_path / "none.xml")])
    assert "run the tests with --junitxml=" in capsys.readouterr().err


def test_against_an_earlier_run_gives_the_ratio_over_the_tests_both_have(suite_times, tmp_path, capsys):
    before = junit(tmp_path / "before.xml", [("test_grpo", "test_a", 100), ("test_study", "test_gone", 50)])
    after = junit(tmp_path / "after.xml", [("test_grpo", "test_a", 200), ("test_study", "test_new", 100)])
    summary = suite_times.main([after, "--against", before])
    assert summary["against"] == {"seconds_before": 150.0, "seconds_after": 300.0, "ratio": 2.0,
                                  "common_tests": 1, "common_ratio": 2.0}
    out = capsys.readouterr().out
    assert "the 1 tests in both" in out and "test_study" in out

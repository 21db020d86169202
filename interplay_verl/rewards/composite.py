"""The process-verification reward, in verl's reward-function contract (docs/method.md#6-rewards).

    reward.custom_reward_function.path=pkg://interplay_verl.rewards.composite
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.variant=gated
    +reward.custom_reward_function.reward_kwargs.alpha=0.2

The gold graph comes from ``extra_info["graph"]`` (the generator and the importer write it)
or from ``extra_info["gold_solution"]``, parsed once and cached.

``reward_kwargs.semantics`` picks how a solution is read: ``interplay`` (the default, ours:
docs/method.md#5-process-verification) or ``paper``, the released reward's reading
(``interplay_verl.verify.paper``), which needs ``extra_info["gold_solution"]`` and falls back
to the outcome without it, as the released reward does. The variants apply on top of either;
the paper's reward is ``gated`` with alpha 0.2 and its strict arm ``strict``. Every call
returns the same keys (verl requires it) and never raises into the trainer: a reward worker
that throws stops the whole RL run. A failure inside the reward scores 0 with
``reward_error`` = 1, so tests and the per-step metrics (``reward/reward_error/mean``) see it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional
from collections.abc import Callable

from interplay_verl.verify import paper
from interplay_verl.verify.compare import ERROR_TYPES, GoldGraph, Report, compare
from interplay_verl.verify.parse import parse_number, parse_solution

logger = logging.getLogger(__name__)

Variant = Callable[[Report, float, float, float], float]  # (report, outcome, R_pv, alpha) -> score
VARIANTS: dict[str, Variant] = {}  # the one list of reward variants: CLI choices and config checks read it


def register_variant(name: str) -> Callable[[Variant], Variant]:
    """Add a reward variant (docs/method.md#6-rewards); ``reward_kwargs.variant=<name>`` selects it."""
    def add(fn: Variant) -> Variant:
        VARIANTS[name] = fn
        return fn
    return add


@register_variant("outcome")
def _outcome(report: Report, outcome: float, r_pv: float, alpha: float) -> float:
    return outcome


@register_variant("composite")
def _composite(report: Report, outcome: float, r_pv: float, alpha: float) -> float:
    return alpha * outcome + (1 - alpha) * r_pv


@register_variant("gated")
def _gated(report: Report, outcome: float, r_pv: float, alpha: float) -> float:
    return outcome * (alpha + (1 - alpha) * r_pv)


@register_variant("strict")
def _strict(report: Report, outcome: float, r_pv: float, alpha: float) -> float:
    return outcome * float(report.penalty == 0)


DEFAULT_VARIANT, DEFAULT_ALPHA, DEFAULT_SEMANTICS = "gated", 0.2, "interplay"
ERROR_KEYS = (*ERROR_TYPES, "wrong_answer", "unparseable")  # per-sample error counts: evaluation, plots
# reward_error is 1 only when the reward itself failed (an exception inside it, or bad
# reward_kwargs): it is how a crash that scores 0 stays distinguishable from a wrong answer.
KEYS = ("score", "outcome", "process", "process_acc", "verified", *ERROR_KEYS, "reward_error")
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.error(message)


def check_reward_kwargs(variant: Any = DEFAULT_VARIANT, alpha: Any = DEFAULT_ALPHA,
                        semantics: Any = DEFAULT_SEMANTICS) -> tuple[str, float]:
    """Validate the reward's knobs (launchers call this before any heavy work)."""
    if semantics not in SEMANTICS:
        raise ValueError(f"reward_kwargs.semantics={semantics!r}: choose one of {', '.join(SEMANTICS)}")
    if variant not in VARIANTS:
        raise ValueError(f"reward_kwargs.variant={variant!r}: choose one of {', '.join(VARIANTS)}")
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"reward_kwargs.alpha={alpha!r}: must be a number in [0, 1]") from None
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"reward_kwargs.alpha={alpha}: must be in [0, 1]")
    return variant, alpha


@lru_cache(maxsize=65536)
def _gold_from_graph(graph_json: str) -> GoldGraph:
    return GoldGraph.from_graph(graph_json)


@lru_cache(maxsize=65536)
def _gold_from_solution(text: str) -> GoldGraph:
    return GoldGraph.from_solution(text)


def _gold(ground_truth: Any, extra_info: Optional[dict]) -> tuple[Optional[GoldGraph], Any]:
    sources = [s for s in (extra_info, ground_truth) if isinstance(s, dict)]
    answer = ground_truth.get("answer", ground_truth.get("ground_truth")) if isinstance(ground_truth, dict) else ground_truth
    for source in sources:
        graph = source.get("graph")
        if graph is not None:
            key = graph if isinstance(graph, str) else json.dumps(graph, sort_keys=True)
            return _gold_from_graph(key), answer
        text = source.get("gold_solution")
        if isinstance(text, str):
            return _gold_from_solution(text), answer
    return None, answer


def score_report(report: Report, outcome: float, variant: str, alpha: float, r_pv: Optional[float] = None) -> float:
    return VARIANTS[variant](report, outcome, report.process_reward if r_pv is None else r_pv, alpha)


def _failed() -> dict[str, float]:
    out = {k: 0.0 for k in KEYS}
    out["reward_error"] = 1.0
    return out


def _gold_solution(ground_truth: Any, extra_info: Optional[dict]) -> Optional[str]:
    """Where the released reward looks: ``ground_truth["solution"]``, ``["gold_solution"]``, then
    ``extra_info["gold_solution"]``, the first that is not empty."""
    text = (ground_truth.get("solution") or ground_truth.get("gold_solution")) if isinstance(ground_truth, dict) else None
    if not text and isinstance(extra_info, dict):
        text = extra_info.get("gold_solution")
    return text if isinstance(text, str) else None


@dataclass(slots=True)
class _ReleasedReport(Report):
    """Our report of the released comparison, with its penalty: extra steps capped at max(|V|, 1),
    so the strict arm zeroes a correct answer over a gold of no steps when anything extra was written."""

    released: Optional[paper.PaperReport] = None

    @property
    def penalty(self) -> int:
        return self.released.penalty


def _interplay(solution_str: Any, ground_truth: Any, extra_info: Optional[dict]) -> tuple[Report, float, float]:
    """(report, outcome, R_pv) as this project reads a solution."""
    gold, answer = _gold(ground_truth, extra_info)
    pred = parse_solution(solution_str)
    gold_answer = parse_number(str(answer)) if answer is not None else None
    if gold_answer is None and gold is not None:
        gold_answer = gold.answer
    outcome = float(pred.answer is not None and gold_answer is not None and pred.answer == gold_answer)
    if gold is None:
        _warn_once("gold", "interplay_verl.rewards.composite: no gold graph in extra_info; process reward is 0")
        report = Report(unparseable=pred.empty, wrong_answer=not outcome, answer_correct=bool(outcome))
    else:
        report = compare(pred, gold)
        report.answer_correct, report.wrong_answer = bool(outcome), not outcome
    return report, outcome, float(report.process_reward)


def _paper(solution_str: Any, ground_truth: Any, extra_info: Optional[dict]) -> tuple[Report, float, float]:
    """(report, outcome, R_pv) as the released reward reads a solution (verify/paper.py)."""
    answer = ground_truth.get("answer") if isinstance(ground_truth, dict) else ground_truth
    if not answer and isinstance(extra_info, dict):
        answer = extra_info.get("gold_answer")
    text = solution_str if isinstance(solution_str, str) else ""
    got = paper.score(text, answer, _gold_solution(ground_truth, extra_info))
    found = got.report
    if found is None:
        report = Report(unparseable=got.empty, wrong_answer=not got.outcome)
    else:
        # the penalty's answer term is the graph's (numeric) answer, as in the released reward
        report = _ReleasedReport(found.missing, found.extra, found.wrong_value, found.wrong_parents,
                                 wrong_answer=found.answer_mismatch, n_gold=found.n_gold, unparseable=got.empty,
                                 released=found)
    report.answer_correct = bool(got.outcome)
    return report, got.outcome, got.process


READERS = {"interplay": _interplay, "paper": _paper}
SEMANTICS = tuple(READERS)  # how a solution is read: ours, or the released reward's


def compute_score(data_source=None, solution_str=None, ground_truth=None, extra_info=None, **kwargs) -> dict[str, float]:
    try:
        variant, alpha = check_reward_kwargs(kwargs.get("variant", DEFAULT_VARIANT), kwargs.get("alpha", DEFAULT_ALPHA),
                                             kwargs.get("semantics", DEFAULT_SEMANTICS))
    except ValueError as exc:
        _warn_once("kwargs", f"interplay_verl.rewards.composite: {exc}; scoring 0")
        return _failed()
    try:
        report, outcome, r_pv = READERS[kwargs.get("semantics", DEFAULT_SEMANTICS)](solution_str, ground_truth,
                                                                                   extra_info)
        acc = float(report.process_acc)
        return {
            "score": float(score_report(report, outcome, variant, alpha, r_pv)),
            "outcome": outcome,
            "process": r_pv,
            "process_acc": acc,
            "verified": float(acc == 1.0 and report.answer_correct),
            "missing": float(len(report.missing)),
            "extra": float(len(report.extra)),
            "wrong_value": float(len(report.wrong_value)),
            "wrong_parents": float(len(report.wrong_parents)),
            "wrong_answer": float(not outcome),
            "unparseable": float(report.unparseable),
            "reward_error": 0.0,
        }
    except Exception as exc:  # never into the trainer
        _warn_once(type(exc).__name__, f"interplay_verl.rewards.composite: {type(exc).__name__}: {exc}; scoring 0")
        return _failed()


def score_rows(rows: list[dict], completions: list[str], quiet: bool = True, **reward_kwargs) -> list[dict]:
    """Score one completion per generated row (a row per sample), as the RL reward scores a rollout:
    evaluation and the offline filter report exactly what RL optimises."""
    from tqdm import tqdm

    return [compute_score(f"interplay/{r['context']}/op{r['op']}", text, r["answer"],
                          {"graph": r["graph"], "gold_solution": r.get("solution")}, **reward_kwargs)
            for r, text in tqdm(zip(rows, completions), total=len(rows), unit="sample", desc="verify", disable=quiet)]

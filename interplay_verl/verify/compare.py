"""Predicted graph vs gold graph -> error report, ProcessAcc, VerifiedCorrect (docs/method.md#5-process-verification).

One comparator serves the RL reward and evaluation alike, so what training optimises is
exactly what evaluation trusts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Optional

from interplay_verl.verify import parse as _parse
from interplay_verl.verify.parse import ParsedSolution, normalize_name, parse_number, parse_solution

ERROR_TYPES = ("missing", "extra", "wrong_value", "wrong_parents")


@dataclass(frozen=True)
class GoldGraph:
    """The necessary quantities of a problem: name -> (value, parent multiset), and the answer."""

    nodes: dict[str, tuple[Fraction, tuple[str, ...]]]
    answer: Optional[Fraction]

    @classmethod
    def from_graph(cls, graph: Any, answer: Any = None) -> GoldGraph:
        """From a generator row's ``graph`` (JSON text or dict)."""
        if isinstance(graph, (str, bytes)):
            graph = json.loads(graph)
        nodes = {}
        for n in graph["nodes"]:
            if n.get("necessary", True):
                nodes[normalize_name(n["name"])] = (
                    n["value"],
                    tuple(sorted(normalize_name(p) for p in n.get("parents", []))),
                )
        if answer is None:
            asked = graph.get("hidden") or graph.get("target")
            answer = next((n["value"] for n in graph["nodes"] if n["name"] == asked), None)
        return cls(nodes, parse_number(str(answer)) if answer is not None else None)

    @classmethod
    def from_solution(cls, text: str, answer: Any = None) -> GoldGraph:
        """From a gold solution text (the paper's released data has no graph column)."""
        parsed = parse_solution(text)
        nodes = {name: (node.value, node.parents) for name, node in parsed.nodes.items()}
        gold_answer = parse_number(str(answer)) if answer is not None else parsed.answer
        return cls(nodes, gold_answer)


@dataclass(slots=True)
class Report:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    wrong_value: list[str] = field(default_factory=list)
    wrong_parents: list[str] = field(default_factory=list)
    wrong_answer: bool = False
    unparseable: bool = False
    n_gold: int = 0
    answer_correct: bool = False

    @property
    def process_acc(self) -> float:
        if not self.n_gold:
            return 0.0
        # a quantity may have a wrong value and wrong parents; a missing one has neither
        bad = len(self.missing) + len(set(self.wrong_value).union(self.wrong_parents))
        return (self.n_gold - bad) / self.n_gold

    @property
    def verified(self) -> bool:
        return self.process_acc == 1.0 and self.answer_correct

    @property
    def penalty(self) -> int:
        """P of docs/method.md#6-rewards."""
        return (len(self.wrong_value) + len(self.wrong_parents) + len(self.missing)
                + min(len(self.extra), self.n_gold) + int(self.wrong_answer))

    @property
    def process_reward(self) -> float:
        return max(0.0, 1.0 - self.penalty / self.n_gold) if self.n_gold else 0.0


def compare_nodes(pred: dict, gold: dict) -> tuple[list, list, list, list]:
    """(missing, extra, wrong_value, wrong_parents) names; the definition of ``_native.compare``."""
    missing, wrong_value, wrong_parents = [], [], []
    for name, (value, parents) in gold.items():
        node = pred.get(name)
        if node is None:
            missing.append(name)
            continue
        if node.value is None or node.value != value:
            wrong_value.append(name)
        if node.parents != parents:  # both sorted: multiset equality
            wrong_parents.append(name)
    return missing, [name for name in pred if name not in gold], wrong_value, wrong_parents


def compare(pred: ParsedSolution, gold: GoldGraph) -> Report:
    nodes = _parse.native.compare if _parse.native is not None else compare_nodes
    missing, extra, wrong_value, wrong_parents = nodes(pred.nodes, gold.nodes)
    report = Report(missing, extra, wrong_value, wrong_parents, n_gold=len(gold.nodes), unparseable=pred.empty)
    report.answer_correct = pred.answer is not None and gold.answer is not None and pred.answer == gold.answer
    report.wrong_answer = not report.answer_correct
    return report


def verify(solution_text: Any, gold: GoldGraph) -> Report:
    return compare(parse_solution(solution_text), gold)


def verify_batch(solutions: list, gold: GoldGraph) -> list[Report]:
    """Many samples of one problem (evaluation draws n per problem) against one gold graph."""
    return [verify(s, gold) for s in solutions]

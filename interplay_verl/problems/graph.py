"""A problem is a DAG over quantities (docs/method.md#1-problem-graphs-and-op); op(G) is its difficulty.

Quantities are kept in creation order, which is a topological order: necessary ones first
(the target last among them), then distractors. The gold graph that rows carry and the
verifier compares against is ``Problem.gold_graph()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# relation -> how the problem text and the solution express it
CONST, COPY, ADD, MUL, SUM, DIFF, AGGREGATE = "const", "copy", "add", "mul", "sum", "diff", "aggregate"


@dataclass(eq=False)  # identity: quantities are compared by being the same node
class Quantity:
    name: str  # "adult lynx in Ash Valley" or "total number of adult animals in Ash Valley"
    aggregate: bool
    relation: str
    parents: tuple[str, ...] = ()
    const: Optional[int] = None
    value: int = 0
    necessary: bool = False
    coef: int = 0  # reverse mode: value = coef * x + offset, x the hidden leaf
    offset: int = 0

    @property
    def operands(self) -> int:
        """Operand count for op(G): a constant counts as one operand, each parent as one."""
        return len(self.parents) + (1 if self.const is not None else 0)

    def reference(self) -> str:
        """How another quantity's sentence names this one."""
        return f"the {self.name}" if self.aggregate else f"the number of {self.name}"


@dataclass
class Problem:
    context: str
    mode: str  # "forward" | "reverse"
    quantities: dict[str, Quantity] = field(default_factory=dict)
    target: str = ""
    hidden: Optional[str] = None  # reverse mode: the leaf whose value is asked for
    entity_of: dict[str, str] = field(default_factory=dict)  # instance name -> entity
    item_of: dict[str, str] = field(default_factory=dict)  # instance name -> item plural

    def add(self, q: Quantity) -> Quantity:
        assert q.name not in self.quantities, q.name
        self.quantities[q.name] = q
        return q

    @property
    def necessary(self) -> list[Quantity]:
        return [q for q in self.quantities.values() if q.necessary]

    @property
    def distractors(self) -> list[Quantity]:
        return [q for q in self.quantities.values() if not q.necessary]

    def op(self) -> int:
        return sum(q.operands for q in self.necessary)

    @property
    def answer(self) -> int:
        return self.quantities[self.hidden].value if self.mode == "reverse" else self.quantities[self.target].value

    def gold_graph(self) -> dict:
        """Plain data for rows and the verifier: nodes by name with value, parents, necessity."""
        return {
            "target": self.target,
            "hidden": self.hidden,
            "nodes": [
                {
                    "name": q.name,
                    "value": q.value,
                    "parents": list(q.parents),
                    "relation": q.relation,
                    "const": q.const,
                    "necessary": q.necessary,
                }
                for q in self.quantities.values()
            ],
        }

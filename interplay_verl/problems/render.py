"""Problem graphs to the paper's text formats (docs/method.md#3-text-format).

The wording must stay byte-compatible with the paper's released data: the verifier parses
these sentences and steps, and checkpoints trained on the paper's data read them.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

from interplay_verl.problems.contexts import Context
from interplay_verl.problems.graph import ADD, AGGREGATE, CONST, COPY, DIFF, MUL, SUM, Problem, Quantity

LETTERS = string.ascii_lowercase + string.ascii_uppercase
HIDDEN_LETTER = "x"


# ---------------------------------------------------------------------------- problem text
def _expr(q: Quantity, problem: Problem) -> str:
    refs = [problem.quantities[p].reference() for p in q.parents]
    if q.relation == CONST:
        return str(q.const)
    if q.relation == COPY:
        return refs[0]
    if q.relation == ADD:
        return f"{q.const} plus {refs[0]}"
    if q.relation == MUL:
        return f"{q.const} times {refs[0]}"
    if q.relation == DIFF:
        return f"the difference between {refs[0]} and {refs[1]}"
    if q.relation == SUM and len(refs) == 2:
        return f"the sum of {refs[0]} and {refs[1]}"
    if q.relation == SUM:
        return f"the sum of {', '.join(refs[:-1])}, and {refs[-1]}"
    raise ValueError(f"{q.name}: relation {q.relation!r} is never stated")


def problem_sentences(problem: Problem) -> list[str]:
    """One sentence per stated quantity (aggregates are never stated), in graph order."""
    out = []
    for q in problem.quantities.values():
        if q.relation == AGGREGATE:
            continue
        if q.name == problem.hidden:
            out.append(f"The number of {q.name} exists, and its number is greater than 0.")
        else:
            out.append(f"The number of {q.name} equals {_expr(q, problem)}.")
    if problem.mode == "reverse":
        target = problem.quantities[problem.target]
        out.append(f"The {'' if target.aggregate else 'number of '}{target.name} equals {target.value}.")
    return out


def question(problem: Problem, context: Context) -> str:
    asked = problem.quantities[problem.hidden if problem.mode == "reverse" else problem.target]
    if asked.aggregate:
        return f"What is the {asked.name}?"
    return context.question.format(item_plural=problem.item_of[asked.name], entity=problem.entity_of[asked.name])


# ---------------------------------------------------------------------------- solutions
def _linear(coef: int, offset: int) -> str:
    """coef*x + offset as the paper writes it: "x", "2*x", "3*x + 2", "2*x - 1", "5"."""
    if coef == 0:
        return str(offset)
    head = "x" if coef == 1 else "-x" if coef == -1 else f"{coef}*x"
    if offset == 0:
        return head
    return f"{head} + {offset}" if offset > 0 else f"{head} - {-offset}"


def _paren(shown: str) -> str:
    """Parenthesise a multi-term linear form where an operator would otherwise bind into it."""
    return f"({shown})" if " + " in shown or " - " in shown else shown


def letter_supply(rng: random.Random, exclude: str = "", ordered: bool = False) -> Iterator[str]:
    """The variable letters of one solution, each used once: in a random order (the paper's), or
    a, b, c, ... in the order they are defined, which a model too small to copy a letter from
    earlier in its own solution can still write (docs/paper-differences.md)."""
    letters = [c for c in LETTERS if c not in exclude]
    if not ordered:
        rng.shuffle(letters)
    return iter(letters)


class _Solver:
    """Writes one step per necessary quantity, with fresh letters for quantities and temporaries."""

    def __init__(self, problem: Problem, rng: random.Random, ordered: bool = False):
        self.problem = problem
        self.letters = letter_supply(rng, HIDDEN_LETTER if problem.mode == "reverse" else "", ordered)
        self.var: dict[str, str] = {}

    def fresh(self) -> str:
        try:
            return next(self.letters)
        except StopIteration:
            raise ValueError("the solution needs more than 52 variable letters") from None

    def show(self, q: Quantity) -> str:
        """A quantity's value as this mode displays it (a number, or linear in x in reverse)."""
        if self.problem.mode == "reverse" and q.necessary:
            return _linear(q.coef, q.offset)
        return str(q.value)

    def step(self, q: Quantity) -> str:
        p = self.problem
        if q.name == p.hidden:
            self.var[q.name] = HIDDEN_LETTER
            return f"Define {q.name} as x; we don't know its value yet but will find it out later."
        letter = self.fresh()
        head = f"Define {q.name} as {letter};"
        parents = [p.quantities[n] for n in q.parents]
        pv = [self.var[n] for n in q.parents]
        shown = [self.show(x) for x in parents]
        result = self.show(q)
        self.var[q.name] = letter
        if q.relation == CONST:
            return f"{head} so {letter} = {q.const}."
        if q.relation == COPY or (q.relation == AGGREGATE and len(parents) == 1):  # or a total over one instance
            return f"{head} so {letter} = {pv[0]} = {result}."
        if q.relation in (ADD, MUL):
            temp, sym = self.fresh(), "+" if q.relation == ADD else "*"
            parent_shown = _paren(shown[0]) if q.relation == MUL else shown[0]
            return (f"{head} {temp} = {pv[0]} = {shown[0]}; "
                    f"so {letter} = {q.const} {sym} {temp} = {q.const} {sym} {parent_shown} = {result}.")
        if q.relation == DIFF:
            return f"{head} so {letter} = {pv[0]} - {pv[1]} = {shown[0]} - {_paren(shown[1])} = {result}."
        # SUM / AGGREGATE over m operands, left to right with m - 2 temporaries
        parts, acc_var, acc_val = [], pv[0], parents[0]
        coef, offset, value = acc_val.coef, acc_val.offset, acc_val.value
        acc_shown = shown[0]
        for i in range(1, len(parents) - 1):
            temp = self.fresh()
            coef, offset, value = coef + parents[i].coef, offset + parents[i].offset, value + parents[i].value
            now = _linear(coef, offset) if p.mode == "reverse" else str(value)
            parts.append(f"{temp} = {acc_var} + {pv[i]} = {acc_shown} + {shown[i]} = {now};")
            acc_var, acc_shown = temp, now
        parts.append(f"so {letter} = {acc_var} + {pv[-1]} = {acc_shown} + {shown[-1]} = {result}.")
        return f"{head} {' '.join(parts)}"


def _equation_steps(a: int, b: int, c: int, x: int) -> str:
    steps = []
    lhs = _linear(a, 0)
    if b != 0:
        steps.append(f"{_linear(a, b)} = {c}; {lhs} = {c} - {b} = {c - b}." if b > 0
                     else f"{_linear(a, b)} = {c}; {lhs} = {c} + {-b} = {c - b}.")
    if a != 1:
        steps.append(f"x = {c - b} / {a} = {x}.")
    return " ".join(steps) if steps else f"x = {c}."


def solution(problem: Problem, rng: random.Random, ordered_letters: bool = False) -> tuple[str, str]:
    """(solution text without the final "Answer: N.", answer) for the problem's mode."""
    solver = _Solver(problem, rng, ordered_letters)
    steps = [solver.step(q) for q in problem.necessary]
    if problem.mode == "forward":
        return " ".join(steps), str(problem.answer)
    target = problem.quantities[problem.target]
    a, b, c, x = target.coef, target.offset, target.value, problem.answer
    tail = (f"We know {solver.var[target.name]} = {c}, so we have {_linear(a, b)} = {c} and we solve it "
            f"through the following steps: {_equation_steps(a, b, c, x)} Solution: x = {x}.")
    return " ".join(["The question is difficult, so we use equations to solve it.", *steps, tail]), str(x)


def training_text(problem_text: str, question_text: str, solution_text: str, answer: str) -> str:
    """One pre-training document (the EOS token is appended by the tokenizing side)."""
    return (f"<question> {problem_text} {question_text} </question> <solution> {solution_text} "
            f"</solution> <answer> {answer} </answer>")


def rl_prompt(problem_text: str, question_text: str) -> str:
    return f"<question> {problem_text} {question_text} </question> <solution>"

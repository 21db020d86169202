"""The released reward's reading of a solution: ``compute_score(..., semantics="paper")``.

The paper scored with its own parser (``verl/reward_fn.py`` and
``utils/solution_dependency_graph.py`` of the authors' repository). It reads a solution
differently from ours (``verify/parse.py``) in ways that change numbers, so a number set
beside the paper's must be scored the paper's way. This module reproduces that reading,
written from its observable behaviour (docs/paper-differences.md#reward lists each point):

- the outcome compares answer *strings*: the first ``<answer>...</answer>`` (any case),
  else the text after the last unclosed ``<answer>`` up to a tag or a line end; spaces, then
  every trailing period, stripped on both sides;
- the graph's answer is the first number in an ``<answer>`` tag, else after ``Answer:``;
- tags are removed before steps are read; a step is ``Define <name> as <letter>;`` up to
  the next one (or ``Answer:``); names match exactly after collapsing spaces;
- a step's parents are the quantities behind *every* letter of every assignment to its
  letter (the hidden x of reverse mode included), compared as sets;
- a step's value is its last assignment that evaluates from known letters, else the last
  literal number of that assignment (so reverse-mode steps carry a number of their
  expression, not their value at x); values compare as floats within 1e-6;
- with no gold solution the process reward is the outcome.

Expressions are evaluated by walking Python's ``ast`` over numbers and + - * / ** //, never
by ``eval`` (powers above 64 are not evaluated: the released code would compute them, for
as long as that takes). The released define pattern backtracks (its time grows about
eightfold per doubling of "Define a Define a ..."); ``_defines`` finds the same matches in
one pass, and inputs longer than ``MAX_CHARS`` are cut there.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

MAX_CHARS = 20_000
TOLERANCE = 1e-6
_TAG = re.compile(r"<[^>]+>")
_DEFINE_WORD_AT = re.compile(r"define(?=\s)")  # on ASCII-lower-cased text
# ASCII lower case, plus the four letters Python's re.I folds onto ASCII ones (long s, Kelvin sign,
# dotless i, dotted I): one character for one, so positions in the folded text are positions in the text
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ\u017f\u212a\u0131\u0130", "abcdefghijklmnopqrstuvwxyzskii")
_LOWER_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_FLOAT_TEXT = re.compile(r"-?[0-9.]+")  # how a value must print to be substituted into an expression
_ASSIGN = re.compile(r"([A-Za-z])\s*=\s*([^.;]+)")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_LETTER = re.compile(r"[A-Za-z]")
_ARITHMETIC = re.compile(r"^[0-9A-Za-z+\-*/().\s]+$")
_ANSWER_CLOSED = re.compile(r"<answer>(.*?)</answer>", re.I | re.S)
_ANSWER_CLOSE = re.compile(r"</answer>", re.I)
_ANSWER_NUMBER = re.compile(r"<answer>\s*([-+]?\d+(?:\.\d+)?)", re.I)
_ANSWER_LINE = re.compile(r"Answer:\s*([-+]?\d+(?:\.\d+)?)")
_DEFINE_WORD = re.compile(r"\bDefine\s+", re.I)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.Mod: operator.mod}


def answer_text(text: str) -> str:
    """The answer as the released outcome reads it (a string; "" when there is none): the text of
    the first ``<answer>`` that a ``</answer>`` follows, else after the last ``<answer>`` up to a
    tag or a line end (found in ``text.lower()`` and cut from ``text``, as the released code does)."""
    closes = list(_ANSWER_CLOSE.finditer(text))
    if closes:  # searched only up to the last closing tag: the first opening before it matches at once
        m = _ANSWER_CLOSED.search(text, 0, closes[-1].end())
        if m:
            return m.group(1).strip()
    at = text.lower().rfind("<answer>")
    if at < 0:
        return ""
    tail = text[at + len("<answer>"):]
    return re.match(r"[^<\n]*", tail, re.S).group(0).strip()


def same_answer(predicted: str, gold: Any) -> bool:
    """String equality after stripping spaces, then every trailing period, as the released outcome."""
    return bool(gold) and predicted.strip().rstrip(".") == str(gold).strip().rstrip(".")


def _graph_answer(text: str) -> Optional[float]:
    m = _ANSWER_NUMBER.search(text) or _ANSWER_LINE.search(text)
    return float(m.group(1)) if m else None


def _last_number(text: str) -> Optional[float]:
    numbers = _NUMBER.findall(text)
    return float(numbers[-1]) if numbers else None


def _arith(node: ast.AST, env: dict[str, float]):
    """An arithmetic expression's value with Python's own operator semantics, or raise."""
    if isinstance(node, ast.Expression):
        return _arith(node.body, env)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]  # a letter known by now (KeyError otherwise)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _arith(node.operand, env)
        return value if isinstance(node.op, ast.UAdd) else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _arith(node.left, env), _arith(node.right, env)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise OverflowError("exponent too large")
        return _OPS[type(node.op)](left, right)
    raise ValueError("not arithmetic")


def _evaluate(expr: str, env: dict[str, float]) -> Optional[float]:
    """The expression's value once its letters are replaced by their values; None if any is
    unknown, or the text is not arithmetic over numbers (words fail, as in the released code)."""
    expr = expr.strip()
    letters = set(_LETTER.findall(expr))
    if not expr or any(letter not in env for letter in letters):
        return None
    if any(not _FLOAT_TEXT.fullmatch(str(env[letter])) for letter in letters):
        return None  # the released code substitutes str(value): "1e-05" or "inf" stop the evaluation
    if not _ARITHMETIC.match(expr):
        return None
    try:
        tree = ast.parse(expr, mode="eval")
        if any(isinstance(n, ast.Name) and len(n.id) != 1 for n in ast.walk(tree)):
            return None
        return float(_arith(tree, env))
    except (SyntaxError, ValueError, KeyError, TypeError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _defines(text: str) -> list[tuple[int, int, str, str]]:
    r"""(start, end, raw name, letter) of each "Define <name> as <letter>;", as the released pattern
    ``Define\s+(.*?)\s+(?:as|a)\s+(?:[A-Za-z]+\s+)*([A-Za-z]);`` (re.I, finditer) finds them, in
    linear time. The name is the shortest text before a whitespace-preceded "as" or "a" (then
    whitespace) whose rest, up to the first ";", is letter-words ending in a one-letter word."""
    n, low = len(text), text.translate(_ASCII_LOWER)

    def is_letter(i: int) -> bool:
        return 0 <= i < n and low[i] in _LOWER_LETTERS

    def space_end(i: int) -> int:
        while i < n and text[i].isspace():
            i += 1
        return i

    # words[i]: from word start i up to the next ";", letter-words separated by whitespace, the
    # last a single letter right before the ";" (filled right to left)
    words = [False] * (n + 1)
    for i in range(n - 1, -1, -1):
        if is_letter(i) and not is_letter(i - 1):
            e = i
            while is_letter(e):
                e += 1
            if e == i + 1 and e < n and text[e] == ";":
                words[i] = True
            elif e < n and text[e].isspace():
                r = space_end(e)
                words[i] = is_letter(r) and words[r]

    def width(p: int) -> int:  # 2 for "as", 1 for "a", at p after whitespace and before the words
        if p == 0 or not text[p - 1].isspace():
            return 0
        for w, word in ((2, "as"), (1, "a")):
            if low[p:p + w] == word and p + w < n and text[p + w].isspace() and words[space_end(p + w)]:
                return w
        return 0

    widths = [width(p) for p in range(n)] + [0, 0]
    nxt = [n] * (n + 2)  # nxt[i]: the first "as"/"a" at or after i that completes a match
    for p in range(n - 1, -1, -1):
        nxt[p] = p if widths[p] else nxt[p + 1]

    found, pos = [], 0
    for m in _DEFINE_WORD_AT.finditer(low):
        d = m.start()
        if d < pos:
            continue
        w = space_end(d + 6)
        p = nxt[w + 1]  # the lazy name grows first; an empty one only if nothing later fits (and it
        if p >= n and widths[w] and w - (d + 6) >= 2:  # leaves "Define" a space of its own)
            p = w
        if p >= n:
            continue
        end = text.index(";", space_end(p + widths[p])) + 1
        found.append((d, end, text[w:p], text[end - 2]))
        pos = end
    return found


def _name(raw: str) -> str:
    name = " ".join(raw.split()).replace("\ufffd", "").strip(" .;")
    words = list(_DEFINE_WORD.finditer(name))
    if words:
        name = name[words[-1].end():]
    return name.strip(" .;")


@dataclass
class _Step:
    name: str
    letter: str
    parents: set[str] = field(default_factory=set)
    value: Optional[float] = None
    expressions: list[str] = field(default_factory=list)


@dataclass
class PaperGraph:
    """name -> (value, parent set), and the answer, as the released parser builds them."""

    nodes: dict[str, tuple[Optional[float], frozenset[str]]]
    answer: Optional[float]
    steps: int = 0


def read_graph(text: str) -> PaperGraph:
    text = text[:MAX_CHARS]
    answer = _graph_answer(text)
    clean = _TAG.sub("", text).strip()
    matches = _defines(clean)
    quantity: dict[str, str] = {}  # letter -> the quantity its latest step defined
    values: dict[str, float] = {}  # letter -> value, across steps (temporaries too)
    steps: list[_Step] = []
    for i, (_, end, raw_name, letter) in enumerate(matches):
        step = _Step(_name(raw_name), letter)
        body = clean[end: matches[i + 1][0] if i + 1 < len(matches) else len(clean)].strip()
        cut = body.find("Answer:")
        body = (body[:cut] if cut >= 0 else body).strip()
        temporaries: dict[str, set[str]] = {}
        value: Optional[float] = None
        for a in _ASSIGN.finditer(body):
            target, expr = a.group(1), a.group(2).strip()
            last = expr.split("=")[-1].strip()
            used: set[str] = set()
            for letter in _LETTER.findall(expr):
                if letter in quantity:
                    used.add(quantity[letter])
                used |= temporaries.get(letter, set())
            if target == step.letter:
                step.parents |= used
                if last:
                    step.expressions.append(last)
            else:
                temporaries.setdefault(target, set()).update(used)
            got = _evaluate(last, values)
            if got is None:
                got = _last_number(a.group(0))
            if got is not None:
                values[target] = got
                if target == step.letter:
                    value = got
        if value is None:
            value = _last_number(body)
            if value is not None:
                values[step.letter] = value
        step.value = value
        quantity[step.letter] = step.name
        steps.append(step)
    final = dict(values)
    for step in steps:  # a step still without a value: its expressions, once every letter is known
        if step.value is None:
            for expr in reversed(step.expressions):
                step.value = _evaluate(expr, final)
                if step.value is not None:
                    break
        if step.value is None and step.letter in final:
            step.value = final[step.letter]
        if step.value is not None:
            final[step.letter] = step.value
    nodes = {s.name: (s.value, frozenset(s.parents)) for s in steps}
    return PaperGraph(nodes, answer, len(steps))


def _differ(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > TOLERANCE


@dataclass
class PaperReport:
    missing: list[str]
    extra: list[str]
    wrong_value: list[str]
    wrong_parents: list[str]
    answer_mismatch: bool
    n_gold: int

    @property
    def penalty(self) -> int:
        total = max(self.n_gold, 1)
        return (len(self.wrong_value) + len(self.wrong_parents) + len(self.missing)
                + min(len(self.extra), total) + int(self.answer_mismatch))

    @property
    def process_reward(self) -> float:
        return max(0.0, 1.0 - self.penalty / max(self.n_gold, 1))


def compare(gold: PaperGraph, pred: PaperGraph) -> PaperReport:
    shared = sorted(set(gold.nodes) & set(pred.nodes))
    return PaperReport(
        missing=sorted(set(gold.nodes) - set(pred.nodes)),
        extra=sorted(set(pred.nodes) - set(gold.nodes)),
        wrong_value=[n for n in shared if _differ(gold.nodes[n][0], pred.nodes[n][0])],
        wrong_parents=[n for n in shared if gold.nodes[n][1] != pred.nodes[n][1]],
        answer_mismatch=_differ(gold.answer, pred.answer),
        n_gold=len(gold.nodes),
    )


@lru_cache(maxsize=65536)
def _gold_graph(text: str) -> PaperGraph:
    """A gold solution read once: a group's rollouts, and later epochs, share it (never mutated)."""
    return read_graph(text)


@dataclass
class PaperScore:
    outcome: float
    process: float
    report: Optional[PaperReport]  # None: no gold solution, the outcome stands in for the process
    empty: bool  # neither a step nor an answer: unparseable


def score(solution: str, gold_answer: Any, gold_solution: Optional[str]) -> PaperScore:
    """The released reward's outcome and process reward for one solution."""
    predicted = answer_text(solution)
    outcome = float(same_answer(predicted, gold_answer))
    pred = read_graph(solution)
    empty = not pred.steps and not predicted
    if not (isinstance(gold_solution, str) and gold_solution.strip()):
        return PaperScore(outcome, outcome, None, empty)
    report = compare(_gold_graph(gold_solution), pred)
    return PaperScore(outcome, report.process_reward, report, empty)

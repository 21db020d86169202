"""A problem's gold graph beside the graph read from a model's solution, as one networkx graph.

The verifier's report says how many quantities a solution got wrong; this says which, and where
they sit in the problem: each quantity of either graph is a node marked ``ok``, ``missing``
(gold only), ``extra`` (solution only), ``wrong_value``, ``wrong_parents`` or ``wrong_both``, and
each dependency an edge marked ``both``, ``gold`` (the solution left it out) or ``solution`` (the
solution invented it). ``plots.problem_picture`` draws it; ``write_graphml`` exports it for any
graph tool.
"""

from __future__ import annotations

import json
from typing import Any

from interplay_verl.verify.compare import GoldGraph, compare
from interplay_verl.verify.parse import normalize_name, parse_solution

STATUSES = ("ok", "missing", "extra", "wrong_value", "wrong_parents", "wrong_both")


def comparison_graph(gold_graph: Any, solution: str):
    """(networkx.DiGraph, verifier report) for one sample: nodes and edges marked as above."""
    import networkx as nx

    graph = json.loads(gold_graph) if isinstance(gold_graph, (str, bytes)) else gold_graph
    gold = GoldGraph.from_graph(graph)
    parsed = parse_solution(solution)
    report = compare(parsed, gold)
    wrong_value, wrong_parents = set(report.wrong_value), set(report.wrong_parents)
    g = nx.DiGraph()
    order = [normalize_name(n["name"]) for n in graph["nodes"] if n.get("necessary", True)]
    for rank, name in enumerate(order):
        value, parents = gold.nodes[name]
        node = parsed.nodes.get(name)
        status = ("missing" if node is None else "wrong_both" if name in wrong_value and name in wrong_parents
                  else "wrong_value" if name in wrong_value else "wrong_parents" if name in wrong_parents else "ok")
        g.add_node(name, status=status, gold_value=str(value), solution_value="" if node is None else str(node.value),
                   rank=rank)
    for name in report.extra:
        g.add_node(name, status="extra", gold_value="", solution_value=str(parsed.nodes[name].value),
                   rank=len(order))
    for name, (_, parents) in gold.nodes.items():
        for parent in parents:
            g.add_edge(parent, name, kind="gold")
    for name, node in parsed.nodes.items():
        for parent in node.parents:
            if parent in g:  # a letter no step defined is not a quantity
                kind = "both" if g.has_edge(parent, name) and g.edges[parent, name]["kind"] == "gold" else "solution"
                g.add_edge(parent, name, kind=kind)
    for name in g.nodes:  # parents the gold graph names but no step does (e.g. distractors)
        g.nodes[name].setdefault("status", "extra")
        g.nodes[name].setdefault("gold_value", "")
        g.nodes[name].setdefault("solution_value", "")
        g.nodes[name].setdefault("rank", len(order))
    return g, report


def write_graphml(graph, path: str) -> str:
    """The comparison graph as GraphML (atomically), readable by networkx, Gephi, yEd, igraph."""
    import networkx as nx

    from interplay_verl.atomic import atomic_write_text

    atomic_write_text(path, "\n".join(nx.generate_graphml(graph)) + "\n")
    return path

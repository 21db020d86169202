"""The plots people look at instead of tables: training loss, evaluation, comparison, the filter, RL curves.

Every plot reads the numbers that the JSON/CSV/Markdown beside it are written from, so they
never disagree. Files are written atomically (a killed run leaves none
half-written).
"""

from __future__ import annotations

import os

from interplay_verl.metrics import SPLITS, at_k
from interplay_verl.rewards.composite import ERROR_KEYS

PALETTE = ("#9ecae1", "#fdae6b", "#e6550d", "#756bb1", "#636363", "#bdbdbd", "#31a354", "#de2d26")
ERROR_COLOURS = dict(zip(ERROR_KEYS, PALETTE))  # an error type added to the reward gets a colour too


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    from interplay_verl.atomic import atomic_write

    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    _plt().close(fig)
    return path


def _curve(entry: dict, kind: str) -> tuple[list[int], list[float]]:
    pairs = sorted((int(k), v) for k, v in entry[kind].items())
    return [k for k, _ in pairs], [v for _, v in pairs]


def passk_by_split(report: dict, path: str) -> str:
    """pass@k against k for each split: outcome solid, process-verified dashed."""
    plt = _plt()
    table = report["pass_at_k"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    groups = list(table.get("by_split", {}).items()) or [("all", table["overall"])]
    for i, (split, entry) in enumerate(groups):
        colour = f"C{i}"
        for kind, style in (("outcome", "-"), ("verified", "--")):
            ks, vs = _curve(entry, kind)
            ax.plot(ks, vs, style, marker=".", color=colour, label=f"{split} {kind}")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="k", ylabel="pass@k", ylim=(-0.02, 1.02), title="pass@k by split (dashed: process-verified)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def pass_vs_op(report: dict, path: str) -> str:
    """pass@1 and pass@k_max against op, outcome and verified."""
    plt = _plt()
    table = report["pass_at_k"]
    kmax = max(int(k) for k in table["k"])
    by_op = sorted((int(op), entry) for op, entry in table["by_op"].items())
    ops = [op for op, _ in by_op]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, colour in ((1, "C0"), (kmax, "C3")) if kmax > 1 else ((1, "C0"),):
        for kind, style in (("outcome", "-"), ("verified", "--")):
            ax.plot(ops, [at_k(e[kind], k) for _, e in by_op], style, marker=".", color=colour,
                    label=f"{kind} pass@{k}")
    ax.set(xlabel="op (operations in the problem)", ylabel="pass rate", ylim=(-0.02, 1.02),
           title=f"pass@1 and pass@{kmax} by op")
    ax.set_xticks(ops)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def outcome_vs_verified(report: dict, path: str) -> str:
    """The gap between a right answer and a right process: pass@1 per op, side by side."""
    plt = _plt()
    by_op = sorted((int(op), entry) for op, entry in report["pass_at_k"]["by_op"].items())
    ops = [op for op, _ in by_op]
    outcome = [at_k(e["outcome"], 1) for _, e in by_op]
    verified = [at_k(e["verified"], 1) for _, e in by_op]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.4
    ax.bar([o - width / 2 for o in ops], outcome, width, label="outcome (right answer)", color="C0")
    ax.bar([o + width / 2 for o in ops], verified, width, label="process-verified", color="C2")
    ax.set(xlabel="op", ylabel="pass@1", ylim=(0, 1.02), title="right answer vs right process")
    ax.set_xticks(ops)
    ax.legend(fontsize=7)
    return _save(fig, path)


def errors_by_op(report: dict, path: str) -> str:
    """Mean count of each error type per sample, stacked, by op."""
    plt = _plt()
    rows = sorted((int(op), errors) for op, errors in report["errors_by_op"].items())
    ops = [op for op, _ in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bottom = [0.0] * len(ops)
    for error, colour in ERROR_COLOURS.items():
        values = [errors[error] for _, errors in rows]
        ax.bar(ops, values, bottom=bottom, color=colour, label=error.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set(xlabel="op", ylabel="errors per sample", title="error types by op")
    ax.set_xticks(ops)
    ax.legend(fontsize=7)
    return _save(fig, path)


EVALUATION_PLOTS = {"passk_by_split.png": passk_by_split, "pass_vs_op.png": pass_vs_op,
                    "outcome_vs_verified.png": outcome_vs_verified, "errors_by_op.png": errors_by_op}


def evaluation_plots(report: dict, out: str) -> list[str]:
    return [plot(report, os.path.join(out, name)) for name, plot in EVALUATION_PLOTS.items()]


def compare_plot(names: list[str], reports: list[dict], path: str) -> str:
    """Grouped bars: pass@1 and pass@k_max (process-verified, outcome hatched) per split, per checkpoint."""
    plt = _plt()
    kmax = min(max(int(k) for k in r["pass_at_k"]["k"]) for r in reports)
    splits = [s for s in SPLITS if all(s in r["pass_at_k"].get("by_split", {}) for r in reports)]
    splits = splits or ["all"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    width = 0.8 / len(names)
    for ax, k in zip(axes, (1, kmax)):
        for i, (name, report) in enumerate(zip(names, reports)):
            table = report["pass_at_k"]
            entries = [table["overall"] if s == "all" else table["by_split"][s] for s in splits]
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(splits))]
            ax.bar(xs, [at_k(e["verified"], k) for e in entries], width, color=f"C{i}",
                    label=f"{name} verified")
            ax.bar(xs, [at_k(e["outcome"], k) for e in entries], width, fill=False,
                   edgecolor=f"C{i}", hatch="//", label=f"{name} outcome")
        ax.set_xticks(range(len(splits)))
        ax.set_xticklabels(splits)
        ax.set(title=f"pass@{k}", ylim=(0, 1.02))
    axes[0].set_ylabel("pass rate")
    axes[1].legend(fontsize=6, ncol=2)
    return _save(fig, path)


def filter_report(report: dict, path: str) -> str:
    """The offline filter's decisions: share of problems saturated / in band / out of reach per op, pass@1 line."""
    plt = _plt()
    ops = sorted(report["by_op"], key=int)
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(ops) + 2), 3.6))
    bottom = [0.0] * len(ops)
    colours = {"saturated": "#9ecae1", "in_band": "#31a354", "out_of_reach": "#bdbdbd"}
    for state, colour in colours.items():
        share = [report["by_op"][op][state] / report["by_op"][op]["problems"] for op in ops]
        ax.bar([str(o) for o in ops], share, bottom=bottom, color=colour, label=state.replace("_", " "))
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.plot([str(o) for o in ops], [report["by_op"][op]["pass_at_1"] for op in ops], "k.-", label="pass@1")
    band = report["band"]
    ax.set(xlabel="op", ylabel="share of problems", ylim=(0, 1.02),
           title=f"edge of competence: pass@1 <= {band['tau_1']}, pass@{band['k']} >= {band['tau_k']} ({band['metric']})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def training_loss(curve: list[tuple[int, float]], path: str, title: str) -> str:
    """A training stage's loss per step (pre-/mid-training), beside its manifest."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in curve], [v for _, v in curve], lw=1)
    ax.set(xlabel="step", ylabel="train loss (nats/token)", yscale="log", title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def rl_curves(curves: dict[str, list[tuple[int, float]]], path: str) -> str:
    """Per RL step: the reward components (left) and the online filter's pool shares (right)."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for key, curve in curves.items():
        ax = left if key.startswith("reward/") else right
        ax.plot([s for s, _ in curve], [v for _, v in curve], marker=".", lw=1, label=key.split("/")[1])
    left.set(xlabel="step", ylabel="mean over rollouts", title="reward components", ylim=(-0.02, 1.02))
    right.set(xlabel="step", ylabel="share of the prompt pool", title="online filter", ylim=(-0.02, 1.02))
    for ax in (left, right):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _save(fig, path)


# ---------------------------------------------------------------------------- study figures
def study_passk_by_op(series: dict[str, dict[int, dict[int, float]]], path: str, title: str) -> str:
    """One panel per evaluation op: pass@k against k, one line per arm (the base dashed)."""
    plt = _plt()
    ops = sorted({op for by_op in series.values() for op in by_op})
    cols = min(5, max(1, len(ops)))
    rows = -(-len(ops) // cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False, sharey=True)
    for i, op in enumerate(ops):
        ax = axes[i // cols][i % cols]
        for j, (label, by_op) in enumerate(series.items()):
            if op in by_op:
                ks = sorted(by_op[op])
                ax.plot(ks, [by_op[op][k] for k in ks], "--" if label.startswith("base") else "-", marker=".",
                        color=f"C{j}", label=label, lw=1)
        ax.set_xscale("log", base=2)
        ax.set(title=f"op {op}", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    for i in range(len(ops), rows * cols):
        axes[i // cols][i % cols].axis("off")
    axes[0][0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def study_lines(panels: dict[str, dict[str, list[tuple[float, float]]]], path: str, title: str, xlabel: str,
                xscale: str = "linear") -> str:
    """Side-by-side panels of (x, y) lines: e.g. pass@1 / pass@k against the share of a context or a budget."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (name, lines) in zip(axes[0], panels.items()):
        for j, (label, points) in enumerate(lines.items()):
            points = sorted(points)
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", color=f"C{j}", label=label, lw=1)
        if xscale == "symlog":
            ax.set_xscale("symlog", linthresh=1e-3)
        ax.set(title=name, xlabel=xlabel, ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def trailing_mean(values: list[float], window: int) -> list[float]:
    """The mean of each value and the ``window - 1`` before it (fewer at the start): a step's
    batch is a handful of prompts, so one step's error rate is mostly which prompts it drew."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def study_reward_curves(curves: dict[str, dict[str, list[tuple[int, float]]]], path: str, title: str,
                        window: int = 8) -> str:
    """Per reward (line colour): each error type per rollout, and outcome minus verified, over RL
    steps: each step faint, the mean of the last ``window`` steps solid."""
    plt = _plt()
    keys = sorted({key for arm in curves.values() for key in arm})
    if not keys:  # no arm logged its reward components (e.g. arms that stopped before RL)
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "no RL metrics with reward components", ha="center", va="center")
        ax.axis("off")
        ax.set_title(title, fontsize=9)
        return _save(fig, path)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for j, (label, arm) in enumerate(curves.items()):
            if key in arm:
                steps, values = [s for s, _ in arm[key]], [v for _, v in arm[key]]
                ax.plot(steps, values, color=f"C{j}", lw=0.6, alpha=0.3)
                ax.plot(steps, trailing_mean(values, window), color=f"C{j}", label=label, lw=1.6)
        ax.set(title=key, xlabel=f"RL step (solid: mean of the last {window})")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


STATUS_COLOURS = {"ok": "#a1d99b", "missing": "#ffffff", "extra": "#fdae6b", "wrong_value": "#fc9272",
                  "wrong_parents": "#9e9ac8", "wrong_both": "#de2d26"}
EDGE_STYLES = {"both": ("#636363", "solid"), "gold": ("#3182bd", "dashed"), "solution": ("#de2d26", "solid")}


def problem_picture(graph, path: str, title: str) -> str:
    """The gold graph and the solution's (``verify.graphs.comparison_graph``), each error marked:
    fill by node status, blue (dashed) edges the solution left out, red edges it invented."""
    import networkx as nx

    plt = _plt()
    layers: dict[str, int] = {}
    try:
        for depth, generation in enumerate(nx.topological_generations(graph)):
            for name in generation:
                layers[name] = depth
    except nx.NetworkXUnfeasible:  # a solution with a cycle: fall back to solution order
        layers = {name: data["rank"] for name, data in graph.nodes(data=True)}
    for name in graph.nodes:
        graph.nodes[name]["layer"] = layers[name]
    pos = nx.multipartite_layout(graph, subset_key="layer", align="horizontal", scale=1.0)
    width = max(6.0, 1.6 * max(sum(1 for v in layers.values() if v == d) for d in set(layers.values())))
    fig, ax = plt.subplots(figsize=(min(width, 18.0), 1.3 + 1.2 * (max(layers.values()) + 1)))
    for kind, (colour, style) in EDGE_STYLES.items():
        edges = [(u, v) for u, v, d in graph.edges(data=True) if d["kind"] == kind]
        nx.draw_networkx_edges(graph, pos, edgelist=edges, ax=ax, edge_color=colour, style=style, arrows=True,
                               arrowsize=10, node_size=1800)
    from matplotlib.lines import Line2D

    handles = []
    for status, colour in STATUS_COLOURS.items():
        nodes = [n for n, d in graph.nodes(data=True) if d["status"] == status]
        nx.draw_networkx_nodes(graph, pos, nodelist=nodes, ax=ax, node_color=colour, node_size=1800,
                               edgecolors="#252525", linewidths=1.0)
        if nodes:
            handles.append(Line2D([], [], marker="o", linestyle="", markersize=8, markerfacecolor=colour,
                                  markeredgecolor="#252525", label=f"{status.replace('_', ' ')} ({len(nodes)})"))

    def label(name: str, data: dict) -> str:
        short = name if len(name) <= 22 else name[:21] + "…"
        values = f"gold {data['gold_value'] or '-'} / sol {data['solution_value'] or '-'}"
        return f"{short}\n{values}"

    nx.draw_networkx_labels(graph, pos, labels={n: label(n, d) for n, d in graph.nodes(data=True)}, ax=ax, font_size=6)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="quantities",
              title_fontsize=7)
    ax.set_title(title + "\nblue: a dependency the solution left out; red: one it invented", fontsize=8)
    ax.axis("off")
    return _save(fig, path)

"""``interplay-verl pipeline``: the whole study from one profile, resumable stage by stage.

Stages run in the order of the stage table (``pipeline/stages.py``). Each writes
``<out>/<stage>/`` and is complete when that directory's ``manifest.json`` records the
stage's key: a hash of the settings it depends on and of its upstream stages' keys. A rerun
skips complete stages, so a killed run resumes at the interrupted stage (and inside a trainer
stage, from its last checkpoint). A stage recorded with another key stops the run with the
settings that changed: its outputs would silently mix two configurations.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from typing import Optional
from collections.abc import Sequence

from interplay_verl.pipeline.config import (ENV_PREFIX, PROFILES_DIR, PipelineConfigError, as_dict, from_dict,
                                            load, pick, validate)
from interplay_verl.pipeline.stages import OPTIONAL_SETTINGS, STAGES


def _jsonable(value):
    from dataclasses import asdict, is_dataclass

    return json.loads(json.dumps(asdict(value) if is_dataclass(value) else value, default=str))


def stage_settings(cfg, name: str) -> dict:
    """The settings a stage's key hashes. A setting added later (``OPTIONAL_SETTINGS``) counts only
    when it differs from its default, so runs made before it existed keep their keys and resume."""
    out = {key: _jsonable(pick(cfg, key)) for key in STAGES[name].settings}
    return {k: v for k, v in out.items() if k not in OPTIONAL_SETTINGS or v != OPTIONAL_SETTINGS[k]}


def stage_keys(cfg) -> dict[str, str]:
    """A hash per stage of the settings it depends on, upstream stages' hashes included."""
    keys: dict[str, str] = {}
    for name, stage in STAGES.items():
        material = {**stage_settings(cfg, name), "upstream": [keys[u] for u in stage.upstream]}
        keys[name] = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]
    return keys


class PeakMemory:
    """Peak summed RSS of this process and all its descendants (Ray workers, torchrun ranks), sampled:
    over the whole run (``peak``) and since the last ``lap()`` (one stage's, kept in its record so a
    resumed run still knows what the stages it skips needed)."""

    def __init__(self, interval: float = 1.0):
        self.interval, self.peak, self._lap_peak, self._stop = interval, 0, 0, threading.Event()
        # a sample taken while a lap ended counts for the run, not for the next lap
        self._lock, self._laps = threading.Lock(), 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        lap = self._laps
        me, total = psutil.Process(), 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        with self._lock:
            self.peak = max(self.peak, total)
            if lap == self._laps:
                self._lap_peak = max(self._lap_peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def lap(self) -> float:
        """Peak GB since the previous lap (or the start), a stage shorter than the interval included;
        starts the next lap."""
        self._sample()
        with self._lock:
            peak, self._lap_peak, self._laps = self._lap_peak, 0, self._laps + 1
        return round(peak / 2 ** 30, 2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Pipeline:
    """One run of the stage table. With a ``store``, each stage lives in ``<store>/<stage>-<key>/``
    instead of ``<out>/<stage>/``: runs whose stages have the same key (a study's arms) share them,
    and ``<out>/<stage>`` is a link to it."""

    def __init__(self, cfg, out: Optional[str] = None, quiet: bool = False, store: Optional[str] = None):
        self.cfg, self.quiet = cfg, quiet
        self.out = os.path.abspath(out or cfg.out)
        self.store = os.path.abspath(store) if store else None
        self.keys = stage_keys(cfg)

    def path(self, *parts: str) -> str:
        if self.store and parts and parts[0] in self.keys:
            return os.path.join(self.store, f"{parts[0]}-{self.keys[parts[0]]}", *parts[1:])
        return os.path.join(self.out, *parts)

    def link_stages(self, finished_only: bool = False) -> None:
        """``<out>/<stage>`` -> the shared stage directory, for reading a run as if it were alone.
        ``finished_only`` (reading a run still going, or stopped): only the stages complete under
        the current settings, and no link left to any other (an earlier configuration's stage)."""
        if not self.store:
            return
        os.makedirs(self.out, exist_ok=True)
        for name in STAGES:
            link, target = os.path.join(self.out, name), self.path(name)
            if finished_only and self.completed(name) is None:
                if os.path.islink(link):
                    os.unlink(link)
                continue
            if not os.path.isdir(target):
                continue
            relative = os.path.relpath(target, self.out)
            if os.path.islink(link) and os.readlink(link) == relative:
                continue
            tmp = os.path.join(self.out, f".link-{name}")  # replaced in one rename: never a stale or missing link
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(relative, tmp)
            os.replace(tmp, link)

    def log(self, message: str) -> None:
        print(f"[pipeline] {message}", flush=True)

    def recorded(self, name: str) -> Optional[dict]:
        """What the stage's manifest records of the pipeline run that completed it, if any."""
        path = self.path(name, "manifest.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f).get("pipeline")

    def completed(self, name: str) -> Optional[dict]:
        """The stage's record if it was completed under the current settings (its key), else None."""
        record = self.recorded(name)
        return record if record is not None and record["key"] == self.keys[name] else None

    def stage_costs(self) -> dict[str, dict]:
        """Seconds and peak GB of every completed stage, from its record: this launch's and earlier
        ones' (a stage recorded before peaks were kept has none)."""
        return {name: {"seconds": record.get("seconds"), "peak_rss_gb": record.get("peak_rss_gb")}
                for name in STAGES if (record := self.completed(name)) is not None}

    def done(self, name: str) -> bool:
        return self.completed(name) is not None or not STAGES[name].enabled(self.cfg)

    def check_markers(self) -> None:
        """A stage made with other settings stops the run before anything is redone or mixed."""
        for name in STAGES:
            record = self.recorded(name)
            if record is not None and record["key"] != self.keys[name]:
                now = stage_settings(self.cfg, name)
                changed = [k for k in record["settings"] if record["settings"][k] != now.get(k)]
                raise PipelineConfigError(
                    f"{self.out}: stage {name!r} was run with a different configuration "
                    f"(changed: {changed or 'an upstream stage'}). Use another --out, or remove "
                    f"{self.path(name)} and the stage directories after it")

    def plan(self, only: Optional[Sequence[str]] = None) -> list[str]:
        """The stages to run, in table order; with ``only``, their upstream stages must be done already."""
        bad = [s for s in only or [] if s not in STAGES]
        if bad:
            raise PipelineConfigError(f"--only {bad}: stages are {', '.join(STAGES)}")
        todo = [name for name in STAGES if (not only or name in only) and not self.done(name)]
        for name in todo:
            missing = [u for u in STAGES[name].upstream if u not in todo and not self.done(u)]
            if missing:
                raise PipelineConfigError(f"stage {name!r} needs {missing} first: run them (add them to --only)")
        return todo

    def run(self, only: Optional[Sequence[str]] = None) -> dict:
        from interplay_verl.manifest import record_stage, write_manifest

        self.check_markers()
        todo = self.plan(only)
        timings: dict[str, float] = {}
        with PeakMemory() as memory:
            for name in STAGES:
                if name not in todo:
                    if not only or name in only:
                        reason = "disabled" if not STAGES[name].enabled(self.cfg) else "done before"
                        self.log(f"{name}: {reason}, skipped")
                    continue
                start = time.time()
                memory.lap()
                self.log(f"{name}: starting")
                STAGES[name].run(self)
                timings[name] = round(time.time() - start, 1)
                record_stage(self.path(name), {"stage": name, "key": self.keys[name],
                                               "settings": stage_settings(self.cfg, name),
                                               "seconds": timings[name], "peak_rss_gb": memory.lap()})
                self.log(f"{name}: done in {timings[name]} s")
        self.link_stages()
        summary = {"out": self.out, "seconds": timings, "peak_rss_gb": round(memory.peak / 2 ** 30, 2),
                   "stages": self.stage_costs(), "report": self.path("report", "comparison.md")}
        write_manifest(self.out, config=as_dict(self.cfg), seed=self.cfg.seed, kind="pipeline", stage_keys=self.keys,
                       last_run=summary)
        return summary


def _run_here(values: dict, only: Optional[list[str]], quiet: bool, store: Optional[str] = None) -> dict:
    """The run itself, wherever it was placed (a Ray task on a device node, on a cluster)."""
    return Pipeline(from_dict(values), quiet=quiet, store=store).run(only)


def run(cfg, only: Optional[list[str]] = None, quiet: bool = False, store: Optional[str] = None) -> dict:
    """Run the pipeline here, or on a Ray cluster (RAY_ADDRESS): check the cluster can hold the
    profile and every node sees the output directory, then run on a node with devices."""
    from interplay_verl import cluster

    pipeline = Pipeline(cfg, quiet=quiet, store=store)
    pipeline.check_markers()
    pipeline.plan(only)
    if not cluster.on_cluster():
        if cfg.cluster.nodes > 1:
            raise PipelineConfigError(f"cluster.nodes={cfg.cluster.nodes}: a multi-node profile runs on a Ray "
                                      "cluster (RAY_ADDRESS; recipes/submit_ray.sh submits it)")
        return pipeline.run(only)
    cluster.connect()
    try:
        nodes = cluster.check_devices(cfg.cluster.nodes, cfg.cluster.gpus_per_node)
        for shared in filter(None, (pipeline.out, pipeline.store)):
            cluster.check_shared_dir(shared, nodes)
    except cluster.ClusterError as exc:
        raise PipelineConfigError(str(exc)) from None
    if cluster.current_node_has_devices():
        return pipeline.run(only)
    values = {**as_dict(cfg), "out": pipeline.out}
    print(f"[pipeline] this node has no devices: running on {nodes[0]['ip']} (node {nodes[0]['node_id'][:12]})",
          flush=True)
    return cluster.on_a_worker(_run_here, values, only, quiet, pipeline.store, node=nodes[0])


def configuration_error(prog: str, exc: Exception) -> int:
    """How a pipeline or study command ends on a bad configuration: one line naming the key, exit 2."""
    print(f"interplay-verl {prog}: configuration error: {exc}", file=sys.stderr)
    return 2


def main(argv: Optional[list[str]] = None) -> int:
    import yaml

    p = argparse.ArgumentParser(prog="interplay-verl pipeline", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=os.path.join(PROFILES_DIR, "tiny.yaml"),
                   help="profile: recipes/profiles/*.yaml (a study's arms: interplay-verl study)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=f"override one setting (repeatable); environment: {ENV_PREFIX}SECTION__KEY=VALUE")
    p.add_argument("--out", help="output directory (default: the profile's `out`)")
    p.add_argument("--only", help=f"comma-separated stages to run (of {','.join(STAGES)}); their upstream "
                                  "stages must be complete")
    p.add_argument("--check", action="store_true", help="print and check the configuration, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    try:
        cfg = load(args.config, args.set)
        if args.out:
            cfg.out = args.out
        print(f"[pipeline] configuration ({args.config}):\n" + yaml.safe_dump(as_dict(cfg), sort_keys=False),
              flush=True)
        only = [s for s in args.only.split(",") if s] if args.only else None
        validate(cfg)
        pipeline = Pipeline(cfg, quiet=args.quiet)
        if args.check:
            pipeline.check_markers()
            print(json.dumps({"config": "ok", "out": pipeline.out, "stage_keys": pipeline.keys,
                              "to_run": pipeline.plan(only)}))
            return 0
        summary = run(cfg, only, args.quiet)
    except PipelineConfigError as exc:
        return configuration_error("pipeline", exc)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures. Tests run on CPU with models and tokenizers built here, never downloaded."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

# verl announces every optional engine it cannot import (megatron, veomni, ...) at import time.
warnings.filterwarnings("ignore", message=".*engine is not available.*", category=UserWarning)

# The suite runs verl on CPU; set before anything imports verl.
os.environ.setdefault("VERL_PLATFORM", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_sessionstart(session):
    # verl swallows plugin import errors; without this a broken plugin would surface as
    # confusing CUDA errors deep in unrelated tests instead of one clear failure.
    from interplay_verl.devices import require_plugin

    require_plugin()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    from interplay_verl.testing.assets import build_tiny_model

    return build_tiny_model(str(tmp_path_factory.mktemp("tiny")), seed=0)


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="module", params=["compiled", "python"])
def parser(request):
    """Run a module's cases on both parsers: verify/parse.py (the definition) and its compiled twin.

    Module-scoped and restored by hand (not monkeypatch): hypothesis refuses function-scoped fixtures.
    """
    from interplay_verl.verify import parse

    saved = parse.native
    if request.param == "python":
        parse.native = None
    else:
        assert saved is not None, "compiled verifier not built: `pip install -e .` needs a C compiler"
    yield request.param
    parse.native = saved

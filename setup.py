"""interplay-verl: pre-training, mid-training and RL on synthetic reasoning graphs, on verl.

CPU machines: install torch==2.13.0 first (``bash recipes/setup_cpu.sh`` does it), or
pip resolves an unpinned torch through verl's dependencies and pulls CUDA wheels.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, find_packages, setup

# verl 0.9.1 imports these without declaring them outside its `verl-core` extra;
# TransferQueue (+ pyzmq, msgspec) backs its default V1 PPO trainer.
VERL_UNDECLARED = ["fastapi", "uvicorn", "cachetools", "TransferQueue", "pyzmq", "msgspec"]

INSTALL_REQUIRES = [
    "verl==0.9.1",
    "transformers>=5.5.3,<5.11",
    "ray[default]",
    "networkx",
    "pandas",
    "pyarrow",
    "tokenizers",
    "tqdm",
    "matplotlib",
    "pyyaml",
    "psutil",
    *VERL_UNDECLARED,
]

EXTRAS = {
    # verl 0.9.1's own `vllm` extra (vllm 0.24.0, torch 2.11.0, transformers 5.9.0) and the
    # flash-attn its `fsdp` extra pins; GPU clusters only.
    "gpu": ["verl[vllm]==0.9.1", "vllm==0.24.0"],
    "test": ["pytest>=8", "hypothesis>=6", "ruff>=0.17,<0.18"],
}

# Compiled twins of interplay_verl/verify/{parse,compare}.py (the reward's hot loop). Optional:
# without a C compiler the install still succeeds and the Python modules do the work, slower.
# The source's hash is compiled in: parse.py ignores a .so built from another version of the file
# (an editable checkout after `git pull`, before the next `pip install -e .`).
NATIVE_SOURCE = "interplay_verl/verify/_native.c"
NATIVE_SHA256 = hashlib.sha256((Path(__file__).parent / NATIVE_SOURCE).read_bytes()).hexdigest()
NATIVE = Extension(
    "interplay_verl.verify._native",
    [NATIVE_SOURCE],
    define_macros=[("SOURCE_SHA256", f'"{NATIVE_SHA256}"')],
    extra_compile_args=["-O2"],
    optional=True,
)

setup(
    name="interplay-verl",
    version="0.1.0",
    description="The interplay of pre-training, mid-training and RL on reasoning LMs, as a verl extension",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["interplay_verl", "interplay_verl.*"]),
    include_package_data=True,
    package_data={"interplay_verl": ["configs/*.yaml", "problems/contexts/*.yaml"]},
    ext_modules=[NATIVE],
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["interplay-verl=interplay_verl.cli:main"],
        "verl.plugins": ["interplay_verl=interplay_verl.plugin"],
    },
)

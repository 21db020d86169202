#!/usr/bin/env bash
# Set up .venv if needed, then run the whole test suite on CPU. Extra args go to pytest.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash recipes/setup_cpu.sh || exit 1
export VERL_PLATFORM=cpu TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest tests "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "recipes/test.sh: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"

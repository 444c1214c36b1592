"""Imported by the engine's fork server (``MathVerifier.worker_preload``) before it forks workers.

Parsing and comparing representative answers here fills the LaTeX parser's tables and sympy's
caches once; every worker forked afterwards inherits them. It must never raise: the fork server
only tolerates ImportError.
"""

try:
    from grpo_reward_math.equivalence import warm_up

    warm_up()
except Exception:  # noqa: BLE001 - warm-up is an optimisation, never a failure
    pass

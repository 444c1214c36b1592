"""grpo-core: the reward-plugin contract and the engine that runs verifiers fast and safely.

Plugin authors need :class:`Verifier`, :class:`VerifierOptions`, :class:`Score`, :class:`Status`,
:class:`Isolation`, :class:`Sample` and the ``hookimpl`` marker. This package never imports torch,
trl, transformers or docker.
"""

from grpo_core.dependencies import dependency_score
from grpo_core.engine import BatchResult, Engine, RewardSpec
from grpo_core.errors import ConfigError, DataError, GrpoError, UnknownVerifierError
from grpo_core.hookspecs import hookimpl
from grpo_core.plugins import PluginRegistry, get_registry
from grpo_core.sample import Sample
from grpo_core.verifier import Isolation, Score, Status, Verifier, VerifierOptions

__version__ = "0.1.0"

__all__ = [
    "BatchResult",
    "ConfigError",
    "DataError",
    "Engine",
    "GrpoError",
    "Isolation",
    "PluginRegistry",
    "RewardSpec",
    "Sample",
    "Score",
    "Status",
    "UnknownVerifierError",
    "Verifier",
    "VerifierOptions",
    "dependency_score",
    "get_registry",
    "hookimpl",
]

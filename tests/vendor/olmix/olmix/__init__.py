"""OLMix: Data mixture optimization for OLMo training."""

from olmix.aliases import (
    ExperimentGroup,
    ExperimentInstance,
    GenerationConfig,
    LaunchConfig,
    MixEntry,
    Priority,
    SourceConfig,
    SourceInstance,
    TopicConfig,
    TrainType,
)
from olmix.version import __version__

__all__ = [
    "ExperimentGroup",
    "ExperimentInstance",
    "GenerationConfig",
    "LaunchConfig",
    "MixEntry",
    "Priority",
    "SourceConfig",
    "SourceInstance",
    "TopicConfig",
    "TrainType",
    "__version__",
]

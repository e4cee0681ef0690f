"""Fit module for regression fitting and mixture optimization."""

from olmix.fit.config import (
    ConstraintsConfig,
    FilteringConfig,
    FitConfig,
    InLoopEvalConfig,
    OfflineEvalConfig,
    PriorsConfig,
    ProposerConfig,
    RegressionConfig,
    SwarmDataConfig,
)

__all__ = [
    "ConstraintsConfig",
    "FilteringConfig",
    "FitConfig",
    "InLoopEvalConfig",
    "OfflineEvalConfig",
    "PriorsConfig",
    "ProposerConfig",
    "RegressionConfig",
    "SwarmDataConfig",
]

"""Type stubs of the extension module; see `mixatlas` for an overview."""

from os import PathLike
from typing import Any, Literal, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike[str]]
_Direction = Literal["lower", "higher"]
_Array = npt.NDArray[np.float64]
_Acquisition = Literal["mean", "ucb", "lcb", "ei", "pi", "thompson", "variance", "ivr"]

class MixatlasError(Exception):
    """An error mixatlas reports (bad input, a missing file, a failed fit)."""

class Runs:
    """Logged runs: mixtures [n, domains], outcomes [n, targets], optional context."""

    @staticmethod
    def from_csv(
        path: _Path,
        targets: Optional[Sequence[Tuple[str, _Direction]]] = None,
        key: Optional[str] = None,
        mixture: Sequence[str] = (),
    ) -> "Runs":
        """A data spec (.toml) or a table of runs (CSV/JSONL, columns inferred)."""
    @staticmethod
    def from_pandas(
        df: Any,
        mixture: Sequence[str],
        targets: Sequence[Tuple[str, _Direction]],
        key: Optional[str] = None,
        context: Sequence[str] = (),
    ) -> "Runs":
        """Runs from a DataFrame's mixture, target and context columns."""
    @staticmethod
    def from_arrays(
        domains: Sequence[str],
        mixtures: _Array,
        targets: Sequence[Tuple[str, _Direction]],
        outcomes: _Array,
        keys: Optional[Sequence[str]] = None,
        context_names: Sequence[str] = (),
        context: Optional[_Array] = None,
    ) -> "Runs":
        """Runs from arrays: mixtures [n, domains], outcomes [n, targets]."""
    def __len__(self) -> int: ...
    @property
    def domains(self) -> list[str]: ...
    @property
    def targets(self) -> list[str]: ...
    @property
    def keys(self) -> list[str]: ...
    @property
    def mixtures(self) -> _Array:
        """[n, domains]"""
    @property
    def outcomes(self) -> _Array:
        """[n, targets]"""

class Model:
    """A fitted surrogate: the deep ensemble, the Gaussian process or the mixing law."""

    @property
    def kind(self) -> Literal["ensemble", "gp", "loglinear"]: ...
    @property
    def domains(self) -> list[str]: ...
    @property
    def targets(self) -> list[str]: ...
    @property
    def context(self) -> list[str]: ...
    def predict(
        self, weights: _Array, context: Optional[_Array] = None
    ) -> Tuple[_Array, _Array]:
        """(mean, std), each [n, targets]; std = sqrt(epistemic^2 + aleatoric^2)."""
    def posterior(
        self, weights: _Array, context: Optional[_Array] = None
    ) -> Mapping[str, _Array]:
        """mean, epistemic_std, aleatoric_std, std: each [n, targets]; a shared-kernel GP adds
        correlation [targets, targets], the correlation of the targets' epistemic errors."""
    def simulate(
        self,
        samples: int = 100000,
        objective: Optional[_Path] = None,
        constraints: Optional[_Path] = None,
        runs: Optional[Runs] = None,
        acquisition: _Acquisition = "mean",
        beta: Optional[float] = None,
        xi: float = 0.0,
        context: Optional[Mapping[str, float]] = None,
        prior: Literal["tokens", "uniform"] = "tokens",
        top: int = 10,
        seed: int = 0,
        progress: bool = True,
    ) -> dict[str, Any]:
        """Scores `samples` random feasible mixtures as `mixatlas simulate` does: moments of the
        objective, epistemic std and acquisition, and the `top` best as DataFrames."""
    def save(self, path: _Path, overwrite: bool = False) -> None:
        """Writes the checkpoint (the CLI's layout)."""

def fit(
    runs: Runs,
    surrogate: Literal["ensemble", "gp", "loglinear", "auto"] = "ensemble",
    config: Optional[str] = None,
    seed: int = 0,
    progress: bool = True,
) -> Model:
    """Fits a surrogate; `config` is the TOML of its config file (`train --config`)."""

def backtest(
    runs: Runs,
    config: _Path,
    out: _Path,
    objective: Optional[_Path] = None,
    seeds: Optional[int] = None,
    jobs: Optional[int] = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Replays the strategies of a backtest config on the pool `runs`, as `mixatlas backtest`;
    writes backtest.md/.csv/.json in `out` and returns the summary."""

def load(path: _Path) -> Model:
    """Loads any checkpoint the CLI or Model.save wrote."""

class Proposer:
    """Ask/tell: tell logged runs, ask for the next q mixtures (propose's search and spacing)."""

    def __init__(
        self,
        space: Union[Runs, _Path],
        surrogate: Literal["ensemble", "gp", "loglinear", "auto"] = "ensemble",
        config: Optional[str] = None,
        acquisition: _Acquisition = "mean",
        beta: Optional[float] = None,
        xi: float = 0.0,
        objective: Optional[_Path] = None,
        constraints: Optional[_Path] = None,
        samples: int = 20000,
        min_distance: float = 0.05,
        seed: int = 0,
    ) -> None: ...
    def tell(self, runs: Runs) -> None:
        """Adds one round of logged runs."""
    def ask(self, q: int) -> Any:
        """The next q mixtures, best first: a pandas DataFrame (a dict of arrays without pandas)."""

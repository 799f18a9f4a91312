"""The evaluated draws of one run, and the checkpoint file that lets an interrupted run resume."""

import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointError
from ..utils import atomic_path
from .statistics import log_weights

CHECKPOINT_FORMAT_VERSION = 3  # 3: the fingerprint is a dict of named component hashes
ARRAYS = ("theta", "log_proposal", "log_prior", "log_likelihood", "log_auxiliary", "auxiliary")


@dataclass
class DrawStore:
    """Every proposal draw of a run with its densities.

    Draws ``[0, num_evaluated)`` are final. Later draws belong to the batch being evaluated: their
    ``log_likelihood`` is still NaN. Draws outside the prior keep NaN: no likelihood call is made.

    Attributes
    ----------
    parameter_keys: list of str
    theta: numpy.ndarray, shape (N, D)
    log_proposal, log_prior, log_likelihood: numpy.ndarray, shape (N,)
    log_auxiliary: numpy.ndarray, shape (N,)
        Extra term of an extended-space target (0 for plain proposals): e.g. GNPE's kernel
        log κ(t̂ − t(θ)). −inf gives the draw zero weight without a likelihood call.
    auxiliary_keys: list of str; auxiliary: numpy.ndarray, shape (N, A)
        Auxiliary variables a proposal drew with θ (e.g. GNPE's time proxies), kept with the draws.
    fingerprint: dict[str, str]
        Identifies the analysis (named hashes from
        :func:`bilby_dingo.importance_sampling.fingerprint.analysis_fingerprint`); a checkpoint is resumed
        only by its own.
    seed: int
        The run's sampling seed; a resumed run keeps it.
    rng_state: dict
        State of the proposal's random generator after the last batch was drawn.
    """

    parameter_keys: list
    fingerprint: dict
    seed: int
    theta: np.ndarray = None
    log_proposal: np.ndarray = field(default_factory=lambda: np.empty(0))
    log_prior: np.ndarray = field(default_factory=lambda: np.empty(0))
    log_likelihood: np.ndarray = field(default_factory=lambda: np.empty(0))
    log_auxiliary: np.ndarray = field(default_factory=lambda: np.empty(0))
    auxiliary_keys: list = field(default_factory=list)
    auxiliary: np.ndarray = None
    num_evaluated: int = 0
    num_batches: int = 0
    rng_state: dict = None
    proposal_time: float = 0.0
    likelihood_time: float = 0.0

    def __post_init__(self):
        if self.theta is None:
            self.theta = np.empty((0, len(self.parameter_keys)))
        if self.auxiliary is None:
            self.auxiliary = np.empty((0, len(self.auxiliary_keys)))

    @property
    def num_draws(self):
        return self.theta.shape[0]

    @property
    def complete(self):
        """True when no draw awaits its likelihood."""
        return self.num_evaluated == self.num_draws

    def needs_likelihood(self, start=0, stop=None):
        """Mask of draws [start, stop) with a non-zero target apart from the likelihood."""
        stop = self.num_draws if stop is None else stop
        return np.isfinite(self.log_prior[start:stop]) & np.isfinite(self.log_auxiliary[start:stop])

    @property
    def num_likelihood_evaluations(self):
        """Likelihood calls made so far: evaluated draws inside the prior (and the auxiliary support)."""
        return int(np.count_nonzero(self.needs_likelihood(0, self.num_evaluated)))

    @property
    def num_nonfinite_likelihood(self):
        inside = self.needs_likelihood(0, self.num_evaluated)
        return int(np.count_nonzero(inside & ~np.isfinite(self.log_likelihood[: self.num_evaluated])))

    def evaluated_log_weights(self):
        """log w of the final draws, shape (num_evaluated,)."""
        n = self.num_evaluated
        return log_weights(self.log_likelihood[:n], self.log_prior[:n] + self.log_auxiliary[:n], self.log_proposal[:n])

    def add_batch(self, theta, log_proposal, log_prior, rng_state, log_auxiliary=None, auxiliary=None):
        """Append a freshly drawn batch awaiting its likelihood values."""
        if not self.complete:
            raise RuntimeError("Cannot draw a new batch before the previous one is evaluated.")
        n = len(log_proposal)
        log_auxiliary = np.zeros(n) if log_auxiliary is None else log_auxiliary
        auxiliary = np.empty((n, 0)) if auxiliary is None else auxiliary
        if auxiliary.shape != (n, len(self.auxiliary_keys)):
            raise RuntimeError(f"Auxiliary draws of shape {auxiliary.shape}; expected {(n, len(self.auxiliary_keys))}.")
        # Build the new arrays first so that an interrupt sees either the old or the new state.
        grown = (
            np.concatenate([self.theta, theta]),
            np.concatenate([self.log_proposal, log_proposal]),
            np.concatenate([self.log_prior, log_prior]),
            np.concatenate([self.log_likelihood, np.full(n, np.nan)]),
            np.concatenate([self.log_auxiliary, log_auxiliary]),
            np.concatenate([self.auxiliary, auxiliary]),
        )
        (self.theta, self.log_proposal, self.log_prior, self.log_likelihood, self.log_auxiliary,
         self.auxiliary) = grown
        self.rng_state = rng_state
        self.num_batches += 1

    # --- checkpoint file -----------------------------------------------------------------------

    def save(self, path):
        """Write the store to ``path`` atomically (a temporary file renamed over the old one)."""
        metadata = dict(
            format_version=CHECKPOINT_FORMAT_VERSION,
            parameter_keys=self.parameter_keys,
            auxiliary_keys=self.auxiliary_keys,
            fingerprint=self.fingerprint,
            seed=self.seed,
            num_evaluated=self.num_evaluated,
            num_batches=self.num_batches,
            rng_state=self.rng_state,
            proposal_time=self.proposal_time,
            likelihood_time=self.likelihood_time,
        )
        with atomic_path(path, suffix=".npz") as temporary:
            np.savez(
                temporary,
                metadata=np.array(json.dumps(metadata)),
                theta=self.theta,
                log_proposal=self.log_proposal,
                log_prior=self.log_prior,
                log_likelihood=self.log_likelihood,
                log_auxiliary=self.log_auxiliary,
                auxiliary=self.auxiliary,
            )

    @classmethod
    def load(cls, path):
        """Read a checkpoint written by :meth:`save`; never unpickles anything."""
        try:
            with np.load(path, allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"]))
                arrays = {key: np.array(data[key]) for key in ARRAYS}
        except Exception as error:
            raise CheckpointError(
                f"Cannot read the checkpoint {path} ({error}). Delete it, or pass resume=False, to start afresh."
            ) from error
        if not isinstance(metadata, dict):
            raise CheckpointError(f"The checkpoint {path} has no metadata record: it was damaged or edited. Delete it, "
                                  f"or pass resume=False, to start afresh.")
        if metadata.get("format_version") != CHECKPOINT_FORMAT_VERSION:
            raise CheckpointError(
                f"The checkpoint {path} has format version {metadata.get('format_version')}, this "
                f"bilby_dingo writes {CHECKPOINT_FORMAT_VERSION}. Delete it, or pass resume=False."
            )
        problem = _inconsistency(metadata, arrays)
        if problem:
            raise CheckpointError(
                f"The checkpoint {path} is inconsistent ({problem}): it was damaged or edited. Delete it, or pass "
                f"resume=False, to start afresh."
            )
        return cls(
            parameter_keys=metadata["parameter_keys"],
            auxiliary_keys=metadata["auxiliary_keys"],
            fingerprint=metadata["fingerprint"],
            seed=metadata["seed"],
            num_evaluated=metadata["num_evaluated"],
            num_batches=metadata["num_batches"],
            rng_state=metadata["rng_state"],
            proposal_time=metadata["proposal_time"],
            likelihood_time=metadata["likelihood_time"],
            **arrays,
        )


METADATA = ("parameter_keys", "auxiliary_keys", "fingerprint", "seed", "num_evaluated", "num_batches", "rng_state",
            "proposal_time", "likelihood_time")


def _inconsistency(metadata, arrays):
    """What is wrong with a loaded checkpoint's contents, or None: checked here, so that a damaged file
    gives a CheckpointError rather than a broadcasting error deep in a resumed run."""
    missing = [key for key in METADATA if key not in metadata]
    if missing:
        return f"no {missing} in its metadata"
    theta, keys, auxiliary_keys = arrays["theta"], metadata["parameter_keys"], metadata["auxiliary_keys"]
    if theta.ndim != 2 or theta.shape[1] != len(keys):
        return f"theta has shape {theta.shape}, expected (N, {len(keys)}) for the parameters {keys}"
    n = theta.shape[0]
    for key in ("log_proposal", "log_prior", "log_likelihood", "log_auxiliary"):
        if arrays[key].shape != (n,):
            return f"{key} has shape {arrays[key].shape}, expected ({n},) for {n} draws"
    if arrays["auxiliary"].shape != (n, len(auxiliary_keys)):
        return f"auxiliary has shape {arrays['auxiliary'].shape}, expected ({n}, {len(auxiliary_keys)})"
    evaluated, batches = metadata["num_evaluated"], metadata["num_batches"]
    if not isinstance(evaluated, int) or not 0 <= evaluated <= n:
        return f"num_evaluated={evaluated!r} for {n} draws"
    if not isinstance(batches, int) or batches < 0 or (n > 0 and batches == 0):
        return f"num_batches={batches!r} for {n} draws"
    return None

"""The learning relationship: a Beta-Bernoulli bandit over offer kind × customer segment.

Each (kind, segment) arm holds a Beta(α, β) posterior of "accepted when answered": an
acceptance adds one to α, a decline one to β (an offer presented and never answered says
nothing either way). Ranking uses the posterior mean, so the same state always gives the same
offers (tests, restarts and call-center screens agree); `thompson_sample` draws from the
posterior with a caller-seeded RNG for exploration where that is wanted (see settings).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0


@dataclass(frozen=True, slots=True)
class Posterior:
    alpha: float = PRIOR_ALPHA
    beta: float = PRIOR_BETA

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def updated(self, accepted: int, declined: int) -> Posterior:
        return Posterior(self.alpha + accepted, self.beta + declined)


PRIOR = Posterior()


def thompson_sample(posterior: Posterior, rng: random.Random) -> float:
    return rng.betavariate(posterior.alpha, posterior.beta)


def factor(posterior: Posterior) -> float:
    """How much the arm scales a base score: 1.0 at the prior, towards 0 or 2 as it learns."""
    return posterior.mean / PRIOR.mean


def segment_of(value_tier: str | None, lifecycle_stage: str | None) -> str:
    """A coarse segment, so that every arm learns from enough answers."""
    tier = value_tier or "unknown"
    stage = lifecycle_stage or "unknown"
    return f"{tier}/{stage}"

"""rapport-eval --set: validation sweeps override ScoringParams fields by name, typed."""

from __future__ import annotations

import pytest

from rapport_recommender.domain.scoring import ScoringParams
from rapport_recommender.evaluation.cli import scoring_params


def test_overrides_are_typed_and_leave_the_other_defaults() -> None:
    params = scoring_params(["repurchase_weight=5", "max_history=50"])
    assert params.repurchase_weight == 5.0
    assert params.max_history == 50
    assert isinstance(params.max_history, int)
    assert params.shrink == ScoringParams().shrink
    assert scoring_params([]) == ScoringParams()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("no_such_knob=1", "no field 'no_such_knob'"),
        ("max_history=1.5", "'1.5' is not a valid int"),
        ("shrink=lots", "'lots' is not a valid float"),
    ],
)
def test_bad_overrides_name_what_is_wrong(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scoring_params([override])

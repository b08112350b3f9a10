"""Top-N ranking metrics with binary relevance."""

from __future__ import annotations

import math
from collections.abc import Sequence


def hit(ranked: Sequence[str], truth: set[str], k: int = 10) -> float:
    return 1.0 if any(item in truth for item in ranked[:k]) else 0.0


def precision(ranked: Sequence[str], truth: set[str], k: int = 10) -> float:
    return sum(1 for item in ranked[:k] if item in truth) / k


def ndcg(ranked: Sequence[str], truth: set[str], k: int = 10) -> float:
    gain = sum(1 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in truth)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(truth), k)))
    return gain / ideal if ideal else 0.0

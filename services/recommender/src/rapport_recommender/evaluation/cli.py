"""`rapport-eval --data PATH --split-date YYYY-MM-DD [--out PATH]`.

Folds every invoice before the split through the service's own domain code (facts_of →
fold_batch → next_best_offers, in memory instead of PostgreSQL), asks for each customer who
buys after the split the top 10 product offers as of the split, and scores them against what
they bought next — beside a popularity baseline and implicit's item-item cosine recommender,
with the same exclusions (recently bought, returned) applied to all three.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

from rapport_events.envelope import TouchpointEvent
from rapport_recommender.domain.customer import (
    Card,
    CustomerState,
    ItemState,
    Market,
    Policy,
    excluded_of,
    next_best_offers,
)
from rapport_recommender.domain.facts import facts_of, subject_of
from rapport_recommender.domain.fold import BatchUpdate, ItemDelta, fold_batch
from rapport_recommender.domain.offers import Kind
from rapport_recommender.domain.reach import by_reach
from rapport_recommender.domain.scoring import Anchor, Neighbour, ScoringParams, reorder_rates
from rapport_recommender.evaluation.data import invoices, to_event
from rapport_recommender.evaluation.metrics import hit, ndcg, precision
from rapport_recommender.settings import TREND_EPOCH

K = 10
BATCH = 500
POPULAR = 50
PARTS = ("returning", "newcomers")


class Memory:
    """The store's tables as dictionaries; `apply` is what the upserts do."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, ItemDelta]] = defaultdict(dict)
        self.country: dict[str, str] = {}
        # sku → [name, buyers, viewers, units, trend, orders]
        self.stats: dict[str, list[Any]] = {}
        self.country_units: Counter[tuple[str, str]] = Counter()
        self.pairs: dict[str, Counter[str]] = defaultdict(Counter)  # bought pairs a → b → n

    def prior(
        self, subjects: set[str]
    ) -> dict[str, list[tuple[str, datetime | None, datetime | None]]]:
        return {
            s: [(sku, d.last_bought_at, d.last_viewed_at) for sku, d in self.items[s].items()]
            for s in subjects
            if s in self.items
        }

    def buyers(self, skus: Iterable[str]) -> dict[str, set[str]]:
        """sku → the customers who bought it (as the store reads them for the reach order)."""
        wanted = set(skus)
        found: dict[str, set[str]] = {sku: set() for sku in wanted}
        for subject, held in self.items.items():
            for sku in wanted.intersection(held):
                if held[sku].last_bought_at is not None:
                    found[sku].add(subject)
        return found

    def apply(self, update: BatchUpdate) -> None:
        for subject, delta in update.customers.items():
            if delta.country:
                self.country[subject] = delta.country
        for (subject, sku), d in update.customer_items.items():
            held = self.items[subject].get(sku)
            if held is None:
                self.items[subject][sku] = d
                continue
            held.last_bought_at = _later(held.last_bought_at, d.last_bought_at)
            held.units += d.units
            held.orders += d.orders
            held.returned_at = _later(held.returned_at, d.returned_at)
        for sku, s in update.items.items():
            row = self.stats.setdefault(sku, [None, 0, 0, 0, 0.0, 0])
            row[0] = s.name or row[0]
            row[1] += s.buyers
            row[2] += s.viewers
            row[3] += s.units
            row[4] += s.trend
            row[5] += s.orders
        self.country_units.update(update.country_units)
        for (kind, a, b), n in update.pairs.items():
            if kind == "bought":
                self.pairs[a][b] += n


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def load(path: Path) -> list[TouchpointEvent]:
    rows = list(invoices(path))
    events = [to_event(*row) for row in track(rows, description="parsing invoices")]
    events.sort(key=lambda e: e.effective_time)
    return events


def fold_all(events: Sequence[TouchpointEvent], params: ScoringParams) -> Memory:
    memory = Memory()
    batches = range(0, len(events), BATCH)
    for start in track(batches, description="folding (service domain code)"):
        facts = facts_of(list(events[start : start + BATCH]))
        memory.apply(fold_batch(facts, memory.prior(facts.subjects()), params, TREND_EPOCH))
    return memory


def _top(values: dict[str, float], n: int) -> dict[str, float]:
    return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


@dataclass
class Prepared:
    """Everything folded before the split and what customers bought after it."""

    split: datetime
    until: datetime | None
    memory: Memory
    truth: dict[str, set[str]]
    events_before: int


def prepare(
    events: Sequence[TouchpointEvent],
    split: datetime,
    until: datetime | None,
    params: ScoringParams,
) -> Prepared:
    before = [e for e in events if e.effective_time < split]
    after = [
        e
        for e in events
        if e.effective_time >= split
        and (until is None or e.effective_time < until)
        and e.type == "order_completed"
    ]
    memory = fold_all(before, params)
    truth: dict[str, set[str]] = defaultdict(set)
    for event in after:
        truth[subject_of(event)].update(i.sku for i in event.properties.items)  # type: ignore[attr-defined]
    return Prepared(split, until, memory, dict(truth), len(before))


def score(
    prepared: Prepared, params: ScoringParams, policy: Policy, *, quiet: bool = False
) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415 - the eval extra only
    from implicit.nearest_neighbours import CosineRecommender  # type: ignore[import-untyped]  # noqa: PLC0415
    from implicit.utils import ParameterWarning  # type: ignore[import-untyped]  # noqa: PLC0415
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]  # noqa: PLC0415

    memory, truth, split = prepared.memory, prepared.truth, prepared.split
    catalogue = sorted(memory.stats)
    neighbours = {
        a: [Neighbour(b, n, memory.stats[b][1]) for b, n in counts.most_common(params.neighbours)]
        for a, counts in memory.pairs.items()
    }
    similar_to = {
        a: Anchor(memory.stats[a][1], ns).similar(params.shrink, params.neighbours)
        for a, ns in neighbours.items()
    }
    overall = by_reach(
        memory.buyers(_top({s: float(r[1]) for s, r in memory.stats.items()}, POPULAR))
    )
    trending = _top({s: r[4] for s, r in memory.stats.items()}, POPULAR)
    by_country: dict[str, dict[str, float]] = defaultdict(dict)
    for (country, sku), units in memory.country_units.items():
        by_country[country][sku] = float(units)
    by_country = {c: _top(v, POPULAR) for c, v in by_country.items()}
    names = {s: r[0] for s, r in memory.stats.items() if r[0]}
    reorders = reorder_rates(
        {s: float(r[5]) for s, r in memory.stats.items()},
        {s: float(r[1]) for s, r in memory.stats.items()},
    )
    popularity_order = sorted(catalogue, key=lambda s: (-memory.stats[s][1], s))

    users = sorted(memory.items)
    user_index = {u: i for i, u in enumerate(users)}
    item_index = {s: i for i, s in enumerate(catalogue)}
    rows, cols, vals = [], [], []
    for u in users:
        for sku, d in memory.items[u].items():
            if d.last_bought_at is not None:
                rows.append(user_index[u])
                cols.append(item_index[sku])
                vals.append(float(d.units))
    matrix = csr_matrix((np.array(vals), (rows, cols)), shape=(len(users), len(catalogue)))
    knn = CosineRecommender()
    with warnings.catch_warnings():
        # CosineRecommender normalises the CSR matrix it is given into a COO one, then warns
        # about converting its own matrix back (implicit 0.7): not ours to act on.
        warnings.simplefilter("ignore", ParameterWarning)
        knn.fit(matrix, show_progress=False)

    def item_states(subject: str) -> list[ItemState]:
        return [
            ItemState(
                sku,
                d.last_bought_at,
                d.last_viewed_at,
                d.returned_at,
                units=d.units,
                orders=d.orders,
            )
            for sku, d in memory.items.get(subject, {}).items()
        ]

    def ours(subject: str, excluded: set[str]) -> list[str]:
        state = CustomerState(items=item_states(subject), country=memory.country.get(subject))
        market = Market(
            similar_to, overall, by_country.get(state.country or "", {}), trending, names, reorders
        )
        offers = next_best_offers(state, Card(), market, {}, split, params, policy, salt=subject)
        return [o.items[0] for o in offers if o.kind is Kind.PRODUCT][:K]

    def popular(subject: str, excluded: set[str]) -> list[str]:
        return [s for s in popularity_order[: K + len(excluded)] if s not in excluded][:K]

    def item_item(subject: str, excluded: set[str]) -> list[str]:
        if subject not in user_index:
            return popular(subject, excluded)
        index = user_index[subject]
        ids, _ = knn.recommend(
            index, matrix[index], N=K + len(excluded) + K, filter_already_liked_items=False
        )
        found = [catalogue[i] for i in ids if catalogue[i] not in excluded][:K]
        return (
            found
            + [s for s in popular(subject, excluded | set(found)) if s not in found][
                : K - len(found)
            ]
        )

    systems: dict[str, Callable[[str, set[str]], list[str]]] = {
        "rapport (item-item + recency + popularity)": ours,
        "popularity": popular,
        "implicit CosineRecommender (item-item)": item_item,
    }
    tallies = {name: Tally() for name in systems}
    customers = sorted(truth)
    for subject in track(customers, description="ranking and scoring", disable=quiet):
        excluded = excluded_of(item_states(subject), split, params, policy)
        part = "returning" if subject in memory.items else "newcomers"
        for name, system in systems.items():
            started = time.process_time()
            ranked = system(subject, excluded)
            tallies[name].cpu += time.process_time() - started
            tallies[name].add(ranked, truth[subject], part)
    return {
        "split_date": split.date().isoformat(),
        "until": prepared.until.date().isoformat() if prepared.until else "end of data",
        "customers": len(customers),
        "catalogue": len(catalogue),
        "events_before_split": prepared.events_before,
        "params": asdict(params),
        "systems": {name: t.figures(len(catalogue)) for name, t in tallies.items()},
    }


@dataclass
class Tally:
    """One system's sums over the customers. Hits and gains are summed per part, customers with
    a history before the split and without one (newcomers: every system can only offer them
    what is popular), and the totals from the parts; the CPU seconds spent ranking (implicit's:
    the reference)."""

    precise: float = 0.0
    cpu: float = 0.0
    shown: set[str] = field(default_factory=set)
    # part → [customers, hits, gains]
    parts: dict[str, list[float]] = field(default_factory=lambda: {p: [0, 0.0, 0.0] for p in PARTS})

    def add(self, ranked: list[str], wanted: set[str], part: str) -> None:
        self.precise += precision(ranked, wanted, K)
        self.shown.update(ranked)
        self.parts[part][0] += 1
        self.parts[part][1] += hit(ranked, wanted, K)
        self.parts[part][2] += ndcg(ranked, wanted, K)

    def figures(self, catalogue: int) -> dict[str, Any]:
        n, hits, gains = (sum(column) for column in zip(*self.parts.values(), strict=True))
        return {
            "hr@10": round(hits / n, 4),
            "ndcg@10": round(gains / n, 4),
            "precision@10": round(self.precise / n, 4),
            "coverage": round(len(self.shown) / catalogue, 4),
            "cpu_ms_per_customer": round(self.cpu / n * 1e3, 3),
            **{
                part: {
                    "customers": int(customers),
                    "hr@10": round(found / max(1, customers), 4),
                    "ndcg@10": round(gain / max(1, customers), 4),
                }
                for part, (customers, found, gain) in self.parts.items()
            },
        }


def evaluate(
    path: Path,
    split: datetime,
    until: datetime | None,
    out: Path | None,
    console: Console,
    params: ScoringParams | None = None,
) -> dict[str, Any]:
    params, policy = params or ScoringParams(), Policy()
    result = score(prepare(load(path), split, until, params), params, policy)
    n = result["customers"]
    table = Table(
        title=f"Top-10 product offers, split {result['split_date']} to {result['until']}"
        f" ({n} customers)"
    )
    systems = result["systems"]
    counts = {part: next(iter(systems.values()))[part]["customers"] for part in PARTS}
    columns = ["system", "HR@10", "NDCG@10", "precision@10", "coverage", "CPU ms/customer"]
    columns += [f"HR@10 {part} ({counts[part]})" for part in PARTS]
    for column in columns:
        table.add_column(column)
    for name, m in systems.items():
        table.add_row(
            name,
            *(f"{m[k]:.4f}" for k in ("hr@10", "ndcg@10", "precision@10", "coverage")),
            f"{m['cpu_ms_per_customer']:.2f}",
            *(f"{m[part]['hr@10']:.4f}" for part in PARTS),
        )
    console.print(table)
    if out:
        out.write_text(json.dumps(result, indent=2))
        console.print(f"wrote {out}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rapport-eval", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="online_retail.csv.gz")
    parser.add_argument("--split-date", required=True, help="YYYY-MM-DD")
    parser.add_argument(
        "--until", help="YYYY-MM-DD: score purchases before this day only (default: all)"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a ScoringParams default (sweeps on a validation split only: the "
        "figures to report use the defaults, the service's own)",
    )
    args = parser.parse_args(argv)
    try:
        params = scoring_params(args.set)
    except ValueError as error:
        parser.error(str(error))
    split = datetime.strptime(args.split_date, "%Y-%m-%d").replace(tzinfo=UTC)
    until = datetime.strptime(args.until, "%Y-%m-%d").replace(tzinfo=UTC) if args.until else None
    evaluate(args.data, split, until, args.out, Console(), params)


def scoring_params(overrides: Sequence[str]) -> ScoringParams:
    """The defaults with `name=value` overrides (each value of its field's type)."""
    defaults = ScoringParams()
    changes: dict[str, Any] = {}
    for override in overrides:
        name, _, value = override.partition("=")
        if not hasattr(defaults, name) or name.startswith("_"):
            raise ValueError(f"--set {override}: ScoringParams has no field {name!r}")
        kind = type(getattr(defaults, name))
        try:
            changes[name] = kind(value)
        except ValueError:
            raise ValueError(
                f"--set {override}: {value!r} is not a valid {kind.__name__}"
            ) from None
    return replace(defaults, **changes)


if __name__ == "__main__":
    main()

"""rapport-eval end to end on a handful of invoices: the figures are what the invoices say,
overall and apart for returning customers and newcomers."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from rapport_recommender.evaluation.cli import evaluate

HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
HEADER += ["CustomerID", "Country"]
LINES = [
    # before the split: customer 1 orders the lantern twice, customer 2 mugs and a tin
    ("536365", "85123A", "LANTERN", 6, "2011-01-10 08:26:00", 2.55, "17850", "United Kingdom"),
    ("536365", "22423", "CAKE STAND", 2, "2011-01-10 08:26:00", 12.75, "17850", "United Kingdom"),
    ("536366", "85123A", "LANTERN", 6, "2011-02-10 09:00:00", 2.55, "17850", "United Kingdom"),
    ("536367", "22423", "CAKE STAND", 1, "2011-01-15 10:00:00", 12.75, "13047", "France"),
    ("536367", "84879", "BIRD ORNAMENT", 4, "2011-01-15 10:00:00", 1.69, "13047", "France"),
    # after it: customer 1 re-orders the lantern (a hit), customer 2 buys what nobody had
    # bought (a miss for every system), customer 3 is new and buys the lantern
    ("536400", "85123A", "LANTERN", 6, "2011-03-20 08:00:00", 2.55, "17850", "United Kingdom"),
    ("536401", "21212", "CAKE CASES", 24, "2011-03-05 08:00:00", 0.55, "13047", "France"),
    ("536402", "85123A", "LANTERN", 1, "2011-03-10 12:00:00", 2.55, "12583", "United Kingdom"),
    ("536403", "21212", "CAKE CASES", 24, "2011-03-05 08:00:00", 0.55, "", "United Kingdom"),
]


def test_the_evaluation_scores_each_customer_against_what_they_bought_next(
    tmp_path: Path,
) -> None:
    data, out = tmp_path / "retail.csv.gz", tmp_path / "figures.json"
    with gzip.open(data, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(LINES)
    split = datetime(2011, 3, 1, tzinfo=UTC)
    printed = io.StringIO()
    result = evaluate(data, split, None, out, Console(file=printed, width=200))

    assert json.loads(out.read_text()) == result
    assert result["customers"] == 3  # the line without a customer cannot be attributed
    ours = result["systems"]["rapport (item-item + recency + popularity)"]
    assert ours["returning"] == {"customers": 2, "hr@10": 0.5, "ndcg@10": 0.5}
    # The newcomer's list: the cake stand first (it reaches both customers), then the ornament
    # and the lantern, which reach nobody new (by sku among equals): a hit at rank 3.
    assert ours["newcomers"] == {"customers": 1, "hr@10": 1.0, "ndcg@10": 0.5}
    assert ours["hr@10"] == round(2 / 3, 4)
    assert result["systems"]["popularity"]["newcomers"]["hr@10"] == 1.0
    assert "HR@10 returning (2)" in printed.getvalue()

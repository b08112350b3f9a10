"""Recommender settings: the shared service settings plus its database, consumer and policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import Field

from rapport_events.settings import DatabaseSettings, ServiceSettings
from rapport_recommender.domain.customer import Policy
from rapport_recommender.domain.scoring import ScoringParams

# Fixed forever: trending scores are sums of weights relative to it (see domain.scoring).
TREND_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


class RecommenderSettings(ServiceSettings):
    port: int = 8003
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    consumer_group: str = "rapport-recommender"
    consumer_enabled: bool = Field(True, description="fold the stream in this process")
    express: bool = Field(
        False,
        description="the consumer folds only live complaints and consents, ahead of the "
        "stream, in a group of its own (`consumer_group` + `-express`; the `express` command)",
    )
    background_enabled: bool = Field(
        True, description="re-rank stale customers and merge pending pairs in this process"
    )
    ordinary_lane_enabled: bool = Field(
        True,
        description="with background work: the ordinary re-ranking and the pair merge (off "
        "in `serve` where `work` processes of a lower CPU priority take them)",
    )
    at_once_lane_enabled: bool = Field(
        True,
        description="with background work: the at-once lane, complaints and consents ranked "
        "as soon as they are folded (off in `work` processes of a lower CPU priority)",
    )
    niceness: int = Field(
        0,
        ge=0,
        le=19,
        description="added to the process's CPU niceness at start: a `work` process yields "
        "the CPU to the fold and the at-once lane when the host is busy",
    )
    max_batch: int = Field(5000, description="most events folded in one transaction")
    fold_linger_ms: int = Field(
        200,
        ge=0,
        description="the stream's fold gathers what arrives this long after a poll's first "
        "records into one batch: at a steady 1,000 ev/s it otherwise folded a few dozen events "
        "at a time, each batch a transaction of a dozen statements. Nothing live waits on it: "
        "the express lane takes complaints and consents ahead, and the ordinary re-ranking "
        "runs behind by seconds. Measured (`bench --only offers --scale 0.05`, four "
        "alternating pairs, 0 → 200 ms): the recommender's PostgreSQL backends 42-47% → "
        "40-42% of a core in every pair; complaint → offer p99 480, 441, 499, 901 → 330, "
        "339, 1,142, 500 ms, within the host's run-to-run noise. The fold of a backlog "
        "(`--only fold --scale 0.3`): 16,524 → 20,517 ev/s, peak RSS 127 → 125 MB",
    )
    contact_cap_per_week: int = Field(3, ge=0, description="offers per customer per channel")
    decline_cooldown_days: float = Field(90, description="rest for an item declined twice")
    abandoned_cart_minutes: float = Field(30, description="a cart left this long is abandoned")
    rerank_chunk: int = Field(
        100,
        ge=1,
        description="customers ranked again per unit of work: a unit's fixed cost (catalogue "
        "read, round trips) dominates small ones, and a big one holds more in memory (its "
        "customers' rows and their items' neighbours at once). After a backlog of 1,000,000 "
        "events (63,000 customers marked), 100 had them all ranked 189 s after the fold "
        "began; 400 ranked faster but took the work process to 175 MB, past the 150 MB a "
        "process may take (both measured when the pair merge was still part of the unit)",
    )
    at_once_chunk: int = Field(
        20,
        ge=1,
        description="customers a complaint or a consent changed, ranked per step of their own "
        "lane (it runs beside the re-ranker, woken by the fold that marked them)",
    )
    at_once_within_seconds: float = Field(
        60,
        gt=0,
        description="a complaint or consent folded later than this after it happened (a "
        "backlog, a replay) is ranked soon, not in the at-once lane: the lane is for what is "
        "live, and a backlog's thousands would take the fold's time",
    )
    catch_up_lag: int = Field(
        20_000,
        ge=0,
        description="records the fold is behind the end of the log beyond which it is "
        "catching up (a backlog, a replay): the ordinary re-ranking then gives way to it (see "
        "catch_up_share). The fold is this process's consumer; in a process without one "
        "(`work`), the serving processes' group, by its committed offsets. At a steady 1,000 "
        "ev/s it is a few hundred",
    )
    catch_up_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="the share of the time the ordinary re-ranking (and the pair merge beside "
        "it) takes while the fold catches up: what waits behind a backlog (new events, GET "
        "offers ranking a marked customer live) needs the fold, not the rankings, which take "
        "about as long either way; the at-once lane keeps its pace",
    )
    rerank_lease_seconds: float = Field(
        30, gt=0, description="a claimed chunk left unsettled this long is taken up again"
    )
    pair_merge_batches: int = Field(
        20, ge=1, description="folded batches' pair increments added to item_pairs at once"
    )
    rerank_poll_seconds: float = Field(
        1.0, gt=0, description="look for marks of other replicas this often when not woken"
    )
    reach_refresh_seconds: float = Field(
        600,
        gt=0,
        description="the popular items' reach order (what a customer with no history is "
        "offered) is worked out again this often, by the processes that re-rank in turn",
    )
    ranking_max_age_hours: float = Field(
        24,
        gt=0,
        description="a stored ranking (what GET offers serves) is done again at least this "
        "often, though no event changed the customer (the market moves, scores decay)",
    )
    market_cache_seconds: float = Field(
        5,
        ge=0,
        description="GET offers: how long the catalogue, popularity and neighbours read for one "
        "request serve the next ones (the customer's own rows are always read fresh)",
    )

    def live_since(self) -> datetime:
        """What happened since then is live: a complaint or consent is ranked at once."""
        return datetime.now(UTC) - timedelta(seconds=self.at_once_within_seconds)

    @property
    def express_group(self) -> str:
        return f"{self.consumer_group}-express"

    def policy(self) -> Policy:
        return Policy(
            contact_cap_per_week=self.contact_cap_per_week,
            decline_cooldown_days=self.decline_cooldown_days,
            abandoned_after=timedelta(minutes=self.abandoned_cart_minutes),
        )

    def scoring(self) -> ScoringParams:
        return ScoringParams()

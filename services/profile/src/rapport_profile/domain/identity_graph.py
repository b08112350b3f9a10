"""Identify: which events of a batch belong to one customer, and which profiles merge.

An event carrying two identifiers links them. Within a batch, identifiers linked by any event
and the profiles those identifiers already belong to form one customer (a connected component).
When a component holds more than one existing profile they merge into the oldest (ties by id),
so that two consumers that find the same link independently choose the same survivor.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapport_events.identity import identifier_hash

Identifier = tuple[str, str]  # (kind, normalised value)


@dataclass(slots=True)
class Customer:
    """One connected component of the batch."""

    survivor: uuid.UUID | None  # None: nobody known, a new profile is created
    merged: list[uuid.UUID] = field(default_factory=list)
    identifiers: set[Identifier] = field(default_factory=set)
    events: list[int] = field(default_factory=list)  # indexes into the batch


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, node: object) -> object:
        self.parent.setdefault(node, node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: object, b: object) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


def group_customers(
    events: Sequence[Sequence[Identifier]],
    owners: Mapping[Identifier, uuid.UUID],
    created: Mapping[uuid.UUID, datetime],
) -> list[Customer]:
    """Group a batch's events into customers.

    `events[i]` are the identifiers of event i; `owners` maps known identifiers to their
    (surviving) profile; `created` gives each such profile's creation time.
    """
    graph = _UnionFind()
    # A customer's events mostly carry the same identifiers: link each distinct set once.
    distinct = {tuple(identifiers) for identifiers in events}
    for identifiers in distinct:
        first = identifiers[0]
        graph.find(first)
        for identifier in identifiers[1:]:
            graph.union(first, identifier)
    for identifier in {identifier for identifiers in distinct for identifier in identifiers}:
        owner = owners.get(identifier)
        if owner is not None:
            graph.union(identifier, ("profile", owner))
    customers: dict[object, Customer] = {}
    of_first: dict[Identifier, Customer] = {}  # the customer an event's first identifier is in
    for index, linked in enumerate(events):
        first = linked[0]
        customer = of_first.get(first)
        if customer is None:
            root = graph.find(first)
            customer = customers.get(root)
            if customer is None:  # one Customer per component, not one per event
                customer = customers[root] = Customer(survivor=None)
            of_first[first] = customer
        customer.events.append(index)
    for identifiers in distinct:
        of_first[identifiers[0]].identifiers.update(identifiers)
    for customer in customers.values():
        profiles = sorted(
            {owners[i] for i in customer.identifiers if i in owners},
            key=lambda profile_id: (created[profile_id], str(profile_id)),
        )
        if profiles:
            customer.survivor, customer.merged = profiles[0], profiles[1:]
    return list(customers.values())


PROFILE_NAMESPACE = uuid.UUID("5b0c7f5e-3f0e-4d7e-9a55-2f1d0c6b7a10")
STRENGTH = ("customer_id", "loyalty_id", "email", "phone", "anonymous_id")


def new_profile_id(identifiers: set[Identifier]) -> uuid.UUID:
    """A new customer's profile id, derived from its strongest identifier.

    Derived rather than random so that a replay of the stream rebuilds the same ids that the
    recommender and call-center software already hold (the value is hashed: no personal data).
    """
    kind, value = min(identifiers, key=lambda i: (STRENGTH.index(i[0]), i[1]))
    return uuid.uuid5(PROFILE_NAMESPACE, identifier_hash(kind, value))

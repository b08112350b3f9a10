"""The publisher's key hash is Kafka's: the same key lands on the same partition as with any
other Kafka client (the Java client's own test vectors, and aiokafka's reference version)."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2 as reference_murmur2

from rapport_events.kafka.producer import murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed Java ints)
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS.items())
def test_murmur2_matches_the_java_client(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected & 0xFFFFFFFF


def test_murmur2_matches_aiokafka_on_every_length() -> None:
    rng = random.Random(7)
    for length in range(130):
        for _ in range(5):
            key = rng.randbytes(length)
            assert murmur2(key) == reference_murmur2(key), key


def test_a_key_always_gets_the_same_partition_and_none_spreads() -> None:
    partitions = list(range(12))
    key = b"9a627165b0200239decd9a627165b0200239decd9a627165b0200239decd0000"
    expected = (reference_murmur2(key) & 0x7FFFFFFF) % 12
    assert {partition_for(key, partitions, partitions) for _ in range(20)} == {expected}
    assert len({partition_for(None, partitions, partitions) for _ in range(200)}) > 1

"""Topic filters, wildcard matching and classification, with no broker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrolwatch.core.topics import (
    COVERAGE_EVENTS_TOPIC,
    SUBSCRIPTION_FILTERS,
    TopicFilter,
    TopicKind,
    ack_topic,
    classify,
    is_valid_topic_name,
    owntracks_topic,
    position_topic,
    status_topic,
    subscriptions,
    tasking_topic,
)

MATCHES = [
    # (filter, topic, matches?)  -- MQTT 5.0 section 4.7 and its examples
    ("patrol/+/position", "patrol/A1/position", True),
    ("patrol/+/position", "patrol/A1/status", False),
    ("patrol/+/position", "patrol/A1/position/extra", False),
    ("patrol/+/position", "patrol/position", False),
    ("patrol/+/position", "patrol//position", True),  # '+' matches an empty level
    ("patrol/+/position", "Patrol/A1/position", False),  # case matters
    ("patrol/+/position", "patrol/A1/position/", False),
    ("owntracks/+/+", "owntracks/bob/phone", True),
    ("owntracks/+/+", "owntracks/bob/phone/event", False),
    ("owntracks/+/+/event", "owntracks/bob/phone/event", True),
    ("owntracks/+/+/event", "owntracks/bob/phone", False),
    ("sport/tennis/player1/#", "sport/tennis/player1", True),  # '#' includes the parent
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/tennis/player1/#", "sport/tennis/player2", False),
    ("sport/#", "sport", True),
    ("sport/tennis/#", "sport/tennis", True),
    ("sport/tennis/#", "sport/tenni", False),
    ("#", "anything/at/all", True),
    ("#", "/", True),
    ("+", "finance", True),
    ("+", "/finance", False),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/tennis/#", "sport/tennis/player1", True),
    # '$' topics are never matched by a leading wildcard...
    ("#", "$SYS/broker/uptime", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("+/broker/uptime", "$SYS/broker/uptime", False),
    # ...but are by a filter that names them.
    ("$SYS/#", "$SYS/broker/uptime", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    # a '$' later in the topic is an ordinary character
    ("patrol/+/position", "patrol/$A/position", True),
    # a topic name may not hold wildcards, NUL, or be empty
    ("patrol/+/position", "patrol/+/position", False),
    ("patrol/#", "patrol/#", False),
    ("#", "", False),
    ("patrol/+/position", "patrol/A\x00/position", False),
    ("#", "patrol/\ud800", False),  # a lone surrogate is not UTF-8
    # control characters and non-characters: MQTT says SHOULD NOT, Mosquitto refuses them
    ("patrol/+/position", "patrol/A\n/position", False),
    ("patrol/+/position", "patrol/A\t/position", False),
    ("patrol/+/position", "patrol/A\x7f/position", False),
    ("patrol/+/position", "patrol/A\x85/position", False),
    ("patrol/+/position", "patrol/A\ufdd0/position", False),
    ("patrol/+/position", "patrol/A\uffff/position", False),
    ("patrol/+/position", "patrol/A\U0010fffe/position", False),
    ("patrol/+/position", "patrol/A\u00a0/position", True),  # no-break space is fine
    ("patrol/+/position", "patrol/A\u202e/position", True),
    ("patrol/+/position", "patrol/Ä😀/position", True),
    ("patrol/x", "patrol/x", True),
    ("patrol/x", "patrol/y", False),
]


@pytest.mark.parametrize(("pattern", "topic", "expected"), MATCHES)
def test_matches(pattern: str, topic: str, expected: bool) -> None:
    assert TopicFilter(pattern).matches(topic) is expected


@pytest.mark.parametrize(
    ("pattern", "trouble"),
    [
        ("", "must not be empty"),
        ("sport/tennis#", "'#' must be a whole level"),
        ("sport/#/ranking", "'#' must be a whole level and the last one"),
        ("sport+", "'+' must be a whole level"),
        ("sport/+tennis", "'+' must be a whole level"),
        ("a\x00b", "U+0000"),
        ("a/\udc80", "U+DC80"),
        ("a/\x1b", "U+001B"),
        ("a/\ufffe", "U+FFFE"),
        ("a" * 65_536, "at most 65535 bytes"),
    ],
)
def test_invalid_filters_are_refused(pattern: str, trouble: str) -> None:
    with pytest.raises(ValueError, match="invalid MQTT topic filter") as info:
        TopicFilter(pattern)
    assert trouble in str(info.value)


def test_filter_is_a_frozen_value() -> None:
    a, b = TopicFilter("patrol/+/ack"), TopicFilter("patrol/+/ack")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.pattern = "#"  # type: ignore[misc]


def test_topic_name_validity() -> None:
    assert is_valid_topic_name("patrol/A1/position")
    assert is_valid_topic_name("a" * 65_535)
    assert not is_valid_topic_name("a" * 65_536)
    assert not is_valid_topic_name("é" * 40_000)  # 80,000 bytes in UTF-8


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("patrol/A1/position", TopicKind("position", unit="A1")),
        ("patrol/A1/status", TopicKind("status", unit="A1")),
        ("patrol/A1/ack", TopicKind("ack", unit="A1")),
        # unit segments come back as received; messages.py decides if they are valid
        ("patrol//position", TopicKind("position", unit="")),
        ("patrol/+/position", TopicKind("position", unit="+")),
        ("patrol/ÄÖ Ü/status", TopicKind("status", unit="ÄÖ Ü")),
        ("owntracks/bob/phone", TopicKind("owntracks_location", user="bob", device="phone")),
        ("owntracks/bob/phone/event", TopicKind("owntracks_event", user="bob", device="phone")),
        ("owntracks//", TopicKind("owntracks_location", user="", device="")),
        ("patrol/A1/tasking", None),  # outbound only
        (COVERAGE_EVENTS_TOPIC, None),
        ("patrol/A1/position/x", None),
        ("patrol/A1", None),
        ("patrol", None),
        ("", None),
        ("/patrol/A1/position", None),
        ("PATROL/A1/position", None),
        ("owntracks/bob/phone/cmd", None),
        ("owntracks/bob/phone/info", None),
        ("owntracks/bob", None),
        ("owntracks/bob/phone/event/x", None),
        ("$share/ingest/patrol/A1/position", None),
        ("patrol/" + "/" * 10_000 + "position", None),
    ],
)
def test_classify(topic: str, expected: TopicKind | None) -> None:
    assert classify(topic) == expected


def test_classify_long_topics_bypass_the_cache_but_agree() -> None:
    unit = "A" * 500
    assert classify(f"patrol/{unit}/position") == TopicKind("position", unit=unit)


@given(st.text(max_size=60))
def test_classify_never_raises_and_agrees_with_the_filters(topic: str) -> None:
    kind = classify(topic)
    subscribed = any(TopicFilter(f).matches(topic) for f in SUBSCRIPTION_FILTERS)
    if is_valid_topic_name(topic):
        # every topic the worker can receive is classified, and nothing else is
        assert (kind is not None) == subscribed


def test_subscriptions_without_a_share_group() -> None:
    assert subscriptions(None) == [(f, 1) for f in SUBSCRIPTION_FILTERS]
    assert subscriptions("") == subscriptions(None)  # an empty env var means no group
    assert subscriptions(None, qos=2)[0] == ("patrol/+/position", 2)


def test_subscriptions_with_a_share_group() -> None:
    subs = subscriptions("ingest")
    assert [t for t, _ in subs] == [
        "$share/ingest/patrol/+/position",
        "$share/ingest/patrol/+/status",
        "$share/ingest/patrol/+/ack",
        "$share/ingest/owntracks/+/+",
        "$share/ingest/owntracks/+/+/event",
        "$share/ingest/tetra/+/lip",
    ]
    assert {q for _, q in subs} == {1}


@pytest.mark.parametrize("group", ["a/b", "in+", "#", "x\x00"])
def test_bad_share_group_is_refused_with_the_setting_named(group: str) -> None:
    with pytest.raises(ValueError, match="PATROL_INGEST_SHARE_GROUP"):
        subscriptions(group)


def test_bad_qos_is_refused() -> None:
    with pytest.raises(ValueError, match="QoS"):
        subscriptions(None, qos=3)


def test_topic_builders() -> None:
    assert position_topic("A1") == "patrol/A1/position"
    assert status_topic("A1") == "patrol/A1/status"
    assert ack_topic("A1") == "patrol/A1/ack"
    assert tasking_topic("Unit_7-b") == "patrol/Unit_7-b/tasking"
    assert owntracks_topic("bob", "phone") == "owntracks/bob/phone"
    for build in (position_topic, status_topic, ack_topic, tasking_topic):
        assert TopicFilter("patrol/+/+").matches(build("A1"))


@pytest.mark.parametrize("unit", ["", "A 1", "A/1", "+", "#", "A1\n", "А1", "x" * 33])
def test_topic_builders_refuse_invalid_units(unit: str) -> None:
    with pytest.raises(ValueError, match="unit id"):
        position_topic(unit)


@pytest.mark.parametrize(("user", "device"), [("", "phone"), ("bob", ""), ("b/ob", "p"),
                                              ("bob", "+"), ("#", "p")])
def test_owntracks_topic_refuses_bad_names(user: str, device: str) -> None:
    with pytest.raises(ValueError, match="OwnTracks"):
        owntracks_topic(user, device)


def test_every_subscription_filter_is_valid_and_disjoint() -> None:
    filters = [TopicFilter(f) for f in SUBSCRIPTION_FILTERS]
    samples = ["patrol/A1/position", "patrol/A1/status", "patrol/A1/ack",
               "owntracks/bob/phone", "owntracks/bob/phone/event"]
    for topic in samples:
        assert sum(f.matches(topic) for f in filters) == 1, topic

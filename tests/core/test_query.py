"""The grammar of ``--where`` and ``--sort``, and how a condition compares values."""

from __future__ import annotations

import pytest

from kleio.core.reading.query import (
    Condition,
    Order,
    QueryError,
    _holds,
    flatten,
    parse_condition,
    parse_order,
    parse_since,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lr=0.1", Condition("lr=0.1", "lr", "=", "0.1")),
        ("loss:min<0.02", Condition("loss:min<0.02", "loss:min", "<", "0.02")),
        ("loss:min <= 0.02", Condition("loss:min <= 0.02", "loss:min", "<=", "0.02")),
        ("tags~sweep", Condition("tags~sweep", "tags", "~", "sweep")),
        ("model.depth!=3", Condition("model.depth!=3", "model.depth", "!=", "3")),
        ("acc:max>=0.9", Condition("acc:max>=0.9", "acc:max", ">=", "0.9")),
        ("name=a=b", Condition("name=a=b", "name", "=", "a=b")),
    ],
)
def test_conditions_are_key_operator_value(text, expected):
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("lr", "expected KEY OP VALUE"),
        ("=0.1", "no key before '='"),
        ("lr=", "no value after '='"),
        ("lr=<0.1", "starts with an operator"),
        ("loss:avg<1", "unknown summary 'avg' of 'loss'"),
        ("tags~[", "bad regular expression"),
    ],
)
def test_a_bad_condition_names_the_bad_part(text, fragment):
    with pytest.raises(QueryError) as raised:
        parse_condition(text)
    message = str(raised.value)
    assert fragment in message and repr(text) in message and "\n" not in message


def test_sort_keys_are_ascending_unless_they_start_with_a_minus():
    assert parse_order("loss:min") == Order("loss:min", False)
    assert parse_order("-acc:max") == Order("acc:max", True)
    assert parse_order("+created") == Order("created", False)
    with pytest.raises(QueryError, match="no key"):
        parse_order("-")
    with pytest.raises(QueryError, match="unknown summary 'mean'"):
        parse_order("loss:mean")


def test_since_takes_dates_times_and_times_ago():
    assert parse_since("2026-11-01") == parse_since("2026-11-01T00:00:00Z")
    assert parse_since("2026-11-01T12:00") - parse_since("2026-11-01") == 12 * 3600
    assert parse_since("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_since("90m", now=10_000.0) == 10_000.0 - 90 * 60
    with pytest.raises(QueryError, match="bad date 'yesterday'"):
        parse_since("yesterday")


def _check(value, text):
    condition = parse_condition(text)
    return _holds(value, condition)


def test_values_compare_by_type_and_a_list_matches_by_its_items():
    assert _check(0.1, "lr=0.1") and not _check(0.1, "lr=0.2")
    assert _check(0.01, "lr<0.1") and _check(0.1, "lr<=0.1") and not _check(0.1, "lr>0.1")
    assert _check(3, "depth>=3") and _check(3, "depth=3.0")
    assert not _check("0.1", "lr<1")  # text is not smaller than a number
    assert not _check(True, "flag=1") and _check(True, "flag=true")  # booleans are not 1
    assert _check("adam", "optimizer=adam") and _check("adam", "optimizer!=sgd")
    assert _check("resnet50", "model~^res") and _check(0.125, "lr~^0\\.12")
    assert _check(["sweep", "best"], "tags=best") and not _check(["sweep"], "tags=best")
    assert _check(["sweep"], "tags!=best") and not _check(["sweep", "best"], "tags!=best")
    assert _check(["sweep2"], "tags~sweep") and not _check([], "tags~sweep")
    assert not _check(float("nan"), "loss<1") and not _check(float("nan"), "loss>1")


def test_nested_configuration_keys_are_joined_by_dots():
    assert flatten({"lr": 0.1, "model": {"depth": 3, "act": {"name": "relu"}}, "empty": {}}) == {
        "lr": 0.1,
        "model.depth": 3,
        "model.act.name": "relu",
        "empty": {},
    }


@pytest.mark.parametrize(
    "pattern, text",
    [
        (r"(a+)+$", "a" * 40 + "!"),
        (r"(x+x+)+y", "x" * 40),
        (r"^(\w+\s?)*$", "every word of a long sentence, then a comma"),
        (r"(a|aa)*c", "a" * 60),
    ],
)
def test_a_pattern_written_to_backtrack_without_end_is_searched_at_once(pattern, text):
    """Python's own engine takes hours on each of these (2 ** 40 steps): a journal
    searched by such a pattern, from the command line or any page reaching the
    dashboard, would hold the process with the GIL taken. The one Kleio uses does not."""
    condition = parse_condition(f"command~{pattern}")
    assert _holds(text, condition, deadline=__import__("time").monotonic() + 30) is False


def test_matching_past_its_budget_stops_the_query_with_one_line(monkeypatch):
    """Whatever the pattern, all `~` conditions of a query share a time budget; past it,
    the query is refused instead of holding a terminal or the dashboard."""
    from kleio.core.reading import query as query_module

    class FakeStore:  # what select_trials reads: trial documents, no events
        def find_trials(self, *args, **kwargs):
            return iter(
                {"_id": f"{i:032x}", "status": "completed", "command": ["python", "t.py"]}
                for i in range(200)
            )

    monkeypatch.setattr(query_module, "MATCH_BUDGET", 0.0)
    with pytest.raises(QueryError) as raised:
        query_module.query_trials(
            FakeStore(), query_module.Query(where=["command~t.py"]), lease=60.0
        )
    message = str(raised.value)
    assert "'command~t.py'" in message and "took over 0 s" in message and "\n" not in message

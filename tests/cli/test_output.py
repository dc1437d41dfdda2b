"""The one table writer: a table of values leaves whole columns out to fit, never cuts them."""

from __future__ import annotations

import datetime
import io

from hypothesis import given
from hypothesis import strategies as st

from kleio.cli.output import Column, Display, output_rows

ROWS = [
    {"id": "3f9c2e0", "lr": 0.1, "batch": 64, "loss": 0.0123, "acc": 0.91},
    {"id": "4d1a7b2", "lr": 0.01, "batch": 128, "loss": 0.3745, "acc": 0.52},
]
COLUMNS = [Column(key, key.upper()) for key in ("id", "lr", "batch", "loss", "acc")]


def printed(width: int | None, leave_out=("batch", "lr", "acc")) -> tuple[str, list[str]]:
    out = io.StringIO()
    left_out = output_rows(out, "table", COLUMNS, ROWS, Display(width=width), leave_out=leave_out)
    return out.getvalue(), left_out


def test_a_table_leaves_columns_out_in_the_order_given_until_it_fits():
    whole, none = printed(None)
    assert none == [] and whole.splitlines()[0] == "ID       LR    BATCH  LOSS    ACC"
    widest = max(map(len, whole.splitlines()))
    assert printed(widest)[1] == []  # it fits: nothing left out
    assert printed(widest - 1)[1] == ["batch"]
    narrow, left_out = printed(26)
    assert left_out == ["batch", "lr"]
    assert narrow.splitlines() == [
        "ID       LOSS    ACC",
        "3f9c2e0  0.0123  0.91",
        "4d1a7b2  0.3745  0.52",
    ]


def test_a_table_never_leaves_out_a_column_it_was_not_told_it_may():
    shown, left_out = printed(5, leave_out=("acc",))
    assert left_out == ["acc"]
    assert shown.splitlines()[1] == "3f9c2e0  0.1   64     0.0123"  # wider than 5: nothing cut


def test_json_and_csv_leave_nothing_out():
    for format in ("json", "csv"):
        out = io.StringIO()
        assert output_rows(out, format, COLUMNS, ROWS, Display(width=5), leave_out=["lr"]) == []
        assert "0.01" in out.getvalue()


ZONES = [
    datetime.timezone.utc,
    datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
    datetime.timezone(datetime.timedelta(hours=-3)),
    datetime.timezone(datetime.timedelta(seconds=90)),
    datetime.timezone(datetime.timedelta(hours=14)),
]


@given(
    st.lists(st.floats(-3e9, 4e10, allow_nan=False), max_size=30),
    st.sampled_from(ZONES),
)
def test_times_formatted_a_minute_at_a_time_read_as_each_formatted_alone(moments, zone):
    display = Display(zone=zone)
    shown = display.times()
    moments = [*moments, *(m + 1 for m in moments), *(m + 60 for m in moments)]
    assert [shown(m) for m in moments] == [display.time(m) for m in moments]


def test_the_times_of_trials_made_minutes_apart_are_formatted_once_a_day(monkeypatch):
    # 100,000 trials made minutes apart: a listing formats each day once, not each time.
    formatted = []
    original = Display.time
    monkeypatch.setattr(
        Display, "time", lambda self, *args: formatted.append(args) or original(self, *args)
    )
    for zone in ZONES:
        formatted.clear()
        shown = Display(zone=zone).times()
        moments = [1.7e9 + 300 * trial + 0.25 for trial in range(6000)]
        texts = [shown(moment) for moment in moments]
        assert len(formatted) <= (22 if zone.utcoffset(None).seconds % 60 == 0 else 6000)
        assert texts == [Display(zone=zone).time(moment) for moment in moments]
    assert Display().times()(1.7e9 + 300.25) == "2023-11-14 22:18:20"

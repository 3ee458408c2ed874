"""The patient page prints its dates with `ymd` (issue #16): the same text as Django's `date:"Y-m-d"` and
`date:"Y-m-d H:i"`, for dates, naive and aware datetimes in the page's zone (across a DST change), and nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template

VALUES = [
    date(2026, 11, 16),
    date(999, 1, 2),  # "Y" pads the year to four digits
    datetime(2026, 11, 1, 5, 59, tzinfo=UTC),  # 01:59 EDT, just before New York's clocks go back
    datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 EST, the repeated hour
    datetime(2026, 3, 8, 7, 5, tzinfo=UTC),  # 03:05 EDT, after the gap
    datetime(2026, 12, 31, 23, 30, tzinfo=UTC),  # already next year in Tokyo, still this one in New York
    datetime(2026, 7, 4, 9, 7),  # naive: printed as it is
    None,
    "",
]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo", "UTC"])
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_ymd_prints_what_the_date_filter_prints(value, zone):
    def render(source: str) -> str:
        return Template("{% load tz dosewise %}{% timezone zone %}" + source + "{% endtimezone %}").render(
            Context({"v": value, "zone": zone})
        )

    assert render("{{ v|ymd }}") == render('{{ v|date:"Y-m-d" }}')
    if not isinstance(value, date) or isinstance(value, datetime):
        assert render("{{ v|ymd:True }}") == render('{{ v|date:"Y-m-d H:i" }}')
    assert render('{{ v|ymd|default:"—" }}') == render('{{ v|date:"Y-m-d"|default:"—" }}')


def test_an_aware_instant_prints_in_the_pages_zone():
    instant = datetime(2026, 11, 16, 13, 0, tzinfo=UTC) + timedelta(minutes=5)
    source = "{% load tz dosewise %}{% timezone 'America/New_York' %}{{ v|ymd:True }}{% endtimezone %}"
    assert Template(source).render(Context({"v": instant})) == "2026-11-16 08:05"

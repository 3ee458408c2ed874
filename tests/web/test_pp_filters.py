"""The patient page's strip row and its weekday dates are printed by filters (issue #16): `strip_cells` prints what
the template's loop printed, `dymd` what `date:"D Y-m-d"` prints."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template

from web.selectors import _STATE_LABELS, StripCell

LOOP = (
    '{% for c in cells %}<li class="cell cell-{{ c.state }}{% if c.date == today %} is-today{% endif %}" '
    'title="{{ c.label }}"><span class="visually-hidden">{{ c.label }}</span><span aria-hidden="true" '
    'class="cell-day">{{ c.date.day }}</span></li>{% endfor %}'
)


def _render(source: str, **context) -> str:
    return Template("{% load tz dosewise %}{% timezone 'America/New_York' %}" + source + "{% endtimezone %}").render(
        Context(context)
    )


def test_strip_cells_prints_what_the_loop_printed():
    today = date(2026, 11, 16)
    cells = [
        StripCell(date=today + timedelta(days=n), state=state, label=f"{today + timedelta(days=n):%a %d %b}: {label}"
                  + (' (closed: "Staff <training> & Co\'s day")' if state == "closure" else ""))
        for n, (state, label) in enumerate(_STATE_LABELS.items(), start=-3)
    ]
    ours = _render("{{ cells|strip_cells:today }}", cells=cells, today=today)
    assert ours == _render(LOOP, cells=cells, today=today)
    assert ours.count("is-today") == 1 and "&lt;training&gt; &amp; Co&#x27;s" in ours
    assert _render("{{ cells|strip_cells:today }}", cells=[], today=today) == ""


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize(
    "value",
    [
        *(date(2026, 11, 16) + timedelta(days=n) for n in range(7)),  # every weekday
        date(999, 1, 2),
        datetime(2026, 11, 1, 5, 59, tzinfo=UTC),  # an instant: its date in the page's zone
        datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
        None,
        "",
    ],
    ids=repr,
)
def test_dymd_prints_what_the_date_filter_prints(value, zone):
    def render(source: str) -> str:
        return Template("{% load tz dosewise %}{% timezone zone %}" + source + "{% endtimezone %}").render(
            Context({"v": value, "zone": zone})
        )

    assert render("{{ v|dymd }}") == render('{{ v|date:"D Y-m-d" }}')

"""The today board's rows, printed in Python (issue #16).

The row template cost ≈ 0.3 ms a row (a dozen template lookups, ifs and filters for every cell, 25 rows a page):
a good part of the board's CPU on every page a screen loads. `{% board_rows group.rows %}` prints the same bytes
from the row's plain values (web.views.board._row) with the template engine's own escaping, localisation and
filters (`mg`, `date`, `cows_severity`), the page's one CSRF token and the role's `can`. The screen and call-back
forms (issue #15, rare rows) are still web/_screen_form.html, included as the template did.
tests/web/test_board_rows.py holds every row state equal to the row template as it was
(tests/web/board_row_before.html), hypothesis over the values; tests/web/test_board_same_html.py the whole page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from django import template
from django.template.base import render_value_in_context
from django.template.context import Context
from django.template.defaultfilters import date as date_filter
from django.template.defaulttags import CsrfTokenNode
from django.utils.safestring import SafeString, mark_safe

from web.templatetags.doses import cows_severity, mg, mg_number

register = template.Library()

_CSRF = CsrfTokenNode()
_SCREEN_FORM = "web/_screen_form.html"
_INVALID = ' aria-invalid="true"'


class _Printer:
    """What every row of a page shares: the context (escaping, localisation), the CSRF input, the role's `can`."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.csrf = _CSRF.render(context)
        self.can = context.get("can") or {}
        self._screen_form: Any = None

    def text(self, value: Any) -> str:
        """What `{{ value }}` prints: a plain string escaped, anything else as the template engine renders it."""
        if type(value) is str:
            return escape(value)
        return render_value_in_context(value, self.context)

    def screen_form(self, row: dict[str, Any]) -> str:
        """`{% include "web/_screen_form.html" %}` with the row's `v` and `row`, as the row template included it."""
        if self._screen_form is None:
            engine = self.context.template.engine  # type: ignore[union-attr]
            self._screen_form = engine.get_template(_SCREEN_FORM)
        with self.context.push(v=row["visit"], row=row):
            return str(self._screen_form.render(self.context))


@register.simple_tag(takes_context=True)
def board_rows(context: Context, rows: list[dict[str, Any]]) -> SafeString:
    """Each row of a window's table: `<tr>` and its cells, with the whitespace the row template left."""
    printer = _Printer(context)
    return mark_safe("".join([_row(printer, row) for row in rows]))  # noqa: S308 - every value escaped by text()


def _row(p: _Printer, row: dict[str, Any]) -> str:
    t = p.text
    pk = t(row["pk"])
    out = [
        f'\n    <tr id="visit-{pk}" class="row-{t(row["badge"])}">',
        _who(p, row, pk),
        _kind(p, row, pk),
        _state(p, row, pk),
        _alerts(p, row),
        '\n      <td class="actions">\n        ',
        p.screen_form(row) if row["screen"] else "",
        "\n        ",
        _check_in(p, row, pk) if row["may_check_in"] else "",
        "\n        ",
        _complete(p, row, pk) if row["may_complete"] else "",
        "\n        ",
        _small_forms(p, row, pk),
        f'<p class="error" role="alert" id="err-{pk}">{t(row["error"])}</p>' if row["error"] else "",
        "\n      </td>\n    </tr>\n    ",
    ]
    return "".join(out)


def _who(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    blocker = row["blocker"]
    why = (
        f'<p class="blocker small" id="why-{pk}"><span class="blocker-label">Not now:</span> {t(blocker)}</p>'
        if blocker
        else ""
    )
    return (
        f'\n      <td class="who"><a class="patient-name" href="{t(row["urls"]["patient"])}">'
        f"{t(row['last_name'])}, {t(row['first_name'])}</a>"
        f'\n        <span class="identity small"><span class="id-part">Born {t(row["born"])}</span> '
        f'<span class="id-part">MRN {t(row["mrn"])}</span></span>'
        f"\n        {why}</td>"
    )


def _kind(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    v, due = row["visit"], row["due"]
    out = [f'\n      <td class="kind">{t(row["kind_label"])}']
    if row["medication_label"]:
        out.append(f'<span class="muted small"> · {t(row["medication_label"])}</span>')
    out.append("\n        ")
    if row["given"]:
        reason = f" ({t(v.dose_reason)})" if v.dose_reason else ""
        out.append(
            f'<span class="dose-given small" id="given-{pk}">Given: <strong>{t(mg(v.dose_mg))}</strong>'
            f"{reason}</span>\n        "
        )
    elif due:
        out.append(f'<span class="dose-due small" id="due-{pk}">')
        if due.order:
            out.append(f"Due: <strong>{t(mg(due.amount))}</strong>")
            if due.amount != due.order.dose_mg:
                out.append(
                    f' <span class="small">(split dose: this session\'s share of {t(mg(due.order.dose_mg))}'
                    " a day)</span>"
                )
        else:
            out.append("No dose order")
        out.append("</span>\n        ")
        if due.changed:
            out.append(
                f'<span class="order-changed small" id="changed-{pk}"><strong>Order changed since the last visit'
                f"</strong> ({t(date_filter(due.last_dose_date, 'j M'))}): {t(mg(due.order.dose_mg))} from "
                f"{t(date_filter(due.order.effective_date, 'j M'))}</span>"
            )
    out.append("\n        ")
    cows = getattr(due, "cows_today", None)
    if cows is not None:
        out.append(f'<span class="small cows-today">COWS today: {t(cows)} ({t(cows_severity(cows))})</span>')
    out.append("</td>")
    return "".join(out)


def _state(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    out = [f'\n      <td class="state"><span class="badge badge-{t(row["badge"])}">{t(row["badge_label"])}</span>']
    if row["take_homes_given"]:
        out.append(f'<span class="small"> +{t(row["take_homes_given"])} take-home</span>')
        if row["bottles_given"]:
            bottles = ", ".join(
                f"{t(mg(amount)) if amount is not None else 'amount not recorded'} for {t(date_filter(day, 'j M'))}"
                for amount, day in row["bottles_given"]
            )
            out.append(f'<span class="small bottles-given" id="bottles-given-{pk}">: {bottles}</span>')
    out.append("</td>")
    return "".join(out)


def _alerts(p: _Printer, row: dict[str, Any]) -> str:
    t = p.text
    out = ['\n      <td class="alerts">']
    for e in row["escalations"]:
        days = f" · {t(e.consecutive_missed)} days" if e.consecutive_missed else ""
        out.append(
            f'<span class="badge badge-escalation esc-{t(e.kind)}" title="{t(e.reason)}">'
            f"{t(e.get_kind_display())}{days}</span> "
        )
    if not row["escalations"]:
        out.append('<span class="muted">—</span>')
    out.append("</td>")
    return "".join(out)


def _check_in(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    bottles = (
        (
            f'\n          <label for="bottles-{pk}" class="small">Bottles</label>'
            f'\n          <select id="bottles-{pk}" name="bottles_returned">'
            '\n            <option value="">—</option><option value="yes">returned</option>'
            '<option value="no">not returned</option>'
            "\n          </select>\n          "
        )
        if row["is_dose"]
        else ""
    )
    return (
        f'\n        <form method="post" action="{t(row["urls"]["check_in"])}" class="inline">{p.csrf}'
        f"\n          {bottles}"
        f'\n          <button type="submit" aria-label="Check in {t(row["name"])}">Check in</button>'
        "\n        </form>\n        "
    )


def _complete(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    blocked = " is-blocked" if row["blocker"] else ""
    out = [
        f'\n        <form method="post" action="{t(row["urls"]["complete"])}" class="inline complete-form'
        f'{blocked}">{p.csrf}\n          '
    ]
    if row["is_dose"]:
        out.append(_take_homes(p, row, pk))
        if row["has_plan"]:
            out.append(_dose_fields(p, row, pk))
        out.append("\n          ")
    out.append("\n          ")
    name = t(row["name"])
    if row["blocker"]:
        out.append(
            f'\n          <button type="submit" class="blocked" aria-describedby="why-{pk}">Complete'
            f'<span class="visually-hidden"> visit for {name}</span> (blocked)</button>\n          '
        )
    else:
        out.append(
            f'\n          <button type="submit" class="primary" aria-label="Complete visit for {name}">'
            "Complete</button>\n          "
        )
    out.append("\n        </form>\n        ")
    return "".join(out)


def _take_homes(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    planned, error = row["planned"], row["error"]
    out = [
        f'\n          <label for="th-{pk}" class="small">Take-homes</label>'
        f'\n          <input id="th-{pk}" name="take_home_doses" type="number" min="0" max="31" inputmode="numeric"'
        f' value="{t(row["take_home_value"])}" class="num"'
    ]
    if error:
        out.append(' aria-invalid="true"')
    if planned is not None or error:
        described = [f"planned-{pk}"] if planned is not None else []
        described += [f"err-{pk}"] if error else []
        out.append(f' aria-describedby="{" ".join(described)}"')
    out.append(">\n          ")
    if planned is not None:
        out.append(f'<span class="small planned" id="planned-{pk}">Planned take-homes: {t(planned)}</span>')
    out.append("\n          ")
    if p.can.get("clinical"):
        out.append(
            f'\n          <label for="thr-{pk}" class="small">Reason (if more take-homes than planned)</label>'
            f'\n          <input id="thr-{pk}" name="take_home_reason" type="text" maxlength="300"'
            f' value="{t(row["take_home_reason"])}" class="reason">\n          '
        )
    out.append("\n          ")
    return "".join(out)


def _dose_fields(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    dose_error, bottle_error = row["dose_error"], row["bottle_error"]
    described = [f"due-{pk}"] if row["due"] else []
    described += [f"dose-err-{pk}"] if dose_error else []
    out = [
        '<span class="dose-fields">'
        f'\n          <label for="dose-{pk}" class="small">Dose given (mg)</label>'
        f'\n          <input id="dose-{pk}" name="dose_mg" type="number" min="0" step="0.01" inputmode="decimal"'
        f' value="{t(row["dose_value"])}" class="num"{_INVALID if dose_error else ""}'
        f' aria-describedby="{" ".join(described)}">'
        f'\n          <label for="dose-reason-{pk}" class="small">Reason (if less than ordered)</label>'
        f'\n          <input id="dose-reason-{pk}" name="dose_reason" type="text" maxlength="300"'
        f' value="{t(row["dose_reason"])}" class="reason">\n          '
    ]
    if dose_error:
        out.append(f'<span class="error" role="alert" id="dose-err-{pk}">{t(dose_error)}</span>')
    out.append("\n          </span>\n          ")
    bottle_alert = f'<span class="error" role="alert" id="bottle-err-{pk}">{t(bottle_error)}</span>'
    if row["bottles"]:
        out.append(_bottles(p, row, pk))
        out.append(f"\n            {bottle_alert if bottle_error else ''}\n          </fieldset>\n          ")
    elif bottle_error:
        out.append(bottle_alert)
    out.append("\n          ")
    return "".join(out)


def _bottles(p: _Printer, row: dict[str, Any], pk: str) -> str:
    t = p.text
    error = row["bottle_error"]
    out = [
        f'<fieldset class="plain-fieldset bottles" id="bottles-{pk}">'
        f'\n            <legend class="small">Take-home bottles for {t(row["name"])}</legend>'
        f'\n            <p class="small muted" id="bottles-help-{pk}">Each bottle holds the order in force on the day'
        " it covers. Type lower amounts (every bottle) with the reason above; empty gives the order.</p>"
        "\n            "
    ]
    for b, value in row["bottles"]:
        n = t(b.number)
        amount = f"<strong>{t(mg(b.amount))}</strong>" if b.order else "no dose order"
        out.append(
            f'\n            <label for="bottle-{pk}-{n}" class="small">Bottle {n} for {t(date_filter(b.day, "D j M"))}:'
            f" {amount}</label>"
            f'\n            <input id="bottle-{pk}-{n}" name="take_home_mg_{n}" type="number" min="0.01" step="0.01"'
            f' inputmode="decimal" value="{t(value)}" placeholder="{t(mg_number(b.amount)) if b.order else ""}"'
            f' class="num" aria-describedby="bottles-help-{pk}{f" bottle-err-{pk}" if error else ""}"'
            f"{_INVALID if error else ''}>\n            "
        )
    return "".join(out)


def _small_forms(p: _Printer, row: dict[str, Any], pk: str) -> str:
    """Record COWS, undo a check-in, re-open a missed visit, excuse: each with the text the template left."""
    t = p.text
    name, urls = t(row["name"]), row["urls"]
    out = []
    if row["may_record_cows"]:
        out.append(
            f'\n        <a class="button" href="{t(urls["cows"])}">Record COWS<span class="visually-hidden">'
            f" for {name}</span></a>\n        "
        )
    out.append("\n        ")
    if row["may_undo_check_in"]:
        out.append(
            f'\n        <form method="post" action="{t(urls["undo_check_in"])}" class="inline">{p.csrf}'
            f'\n          <button type="submit" aria-label="Undo check-in for {name}">Undo check-in</button>'
            "\n        </form>\n        "
        )
    out.append("\n        ")
    if row["may_reopen"]:
        out.append(
            f'\n        <form method="post" action="{t(urls["reopen"])}" class="inline">{p.csrf}'
            f'\n          <button type="submit" class="primary" aria-label="Re-open (late arrival) for {name}">'
            "Re-open (late arrival)</button>\n        </form>\n        "
        )
    out.append("\n        ")
    if row["may_excuse"]:
        invalid = f' aria-invalid="true" aria-describedby="err-{pk}"' if row["excuse_open"] and row["error"] else ""
        out.append(
            f'\n        <details class="excuse"{" open" if row["excuse_open"] else ""}>'
            f'\n          <summary>Excuse<span class="visually-hidden"> the visit for {name}</span></summary>'
            f'\n          <form method="post" action="{t(urls["excuse"])}" class="inline">{p.csrf}'
            f'\n            <label for="excuse-{pk}" class="small">Reason</label>'
            f'\n            <input id="excuse-{pk}" name="reason" type="text" maxlength="300" required'
            f' value="{t(row["excuse_reason"])}" class="reason"{invalid}>'
            f'\n            <button type="submit" aria-label="Excuse the visit for {name}">Excuse</button>'
            "\n          </form>\n        </details>\n        "
        )
    out.append("\n        ")
    return "".join(out)

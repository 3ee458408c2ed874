"""Issue #17: the episodes and the drift list computed in PostgreSQL equal the pure references on random histories.

Each seed writes real Visit rows (factories, bulk_create) and keeps, beside them, the plain values the pure
functions take: `visits.retention.episodes` for the episodes (the reference splits and leaves in Python) and
`analytics.drift_of` for the drift list. Histories are built to hit the boundaries: same-day doses, take-home
covers, injections (with and without an injection window), exactly 29/30 days and readmission_gap - 1 / gap days
without medication, doses after today, and kept-visit counts and streaks at the drift thresholds.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from notifications import analytics
from scheduler.models import Clinic, Patient
from scheduler.selectors import rules_for_clinic
from tests.factories import ClinicFactory, PatientFactory, PlanFactory
from visits import retention
from visits.models import Visit

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 16)
GAP = 90  # the preset's readmission_gap_days
WINDOWS = {"naltrexone_xr": 28, "buprenorphine_xr_weekly": 7}  # the preset's injection intervals used here
ORAL = ("methadone", "buprenorphine")


def _visit(patient: Patient, day: date, status: str = "completed", **fields: object) -> Visit:
    fields.setdefault("kind", "dose")
    return Visit(patient=patient, clinic=patient.clinic, date=day, status=status, source="manual", **fields)


# --- retention ---------------------------------------------------------------------------------------


@dataclass
class DoseHistory:
    """Visits to write, and the reference's doses per (patient, medication)."""

    visits: list[Visit] = field(default_factory=list)
    doses: dict[tuple[int, str], list[retention.Dose]] = field(default_factory=lambda: defaultdict(list))
    gaps: Counter[int] = field(default_factory=Counter)  # days without medication generated, to check coverage


def _one_dose(rng: random.Random, plan: object, day: date) -> tuple[Visit, date]:
    """A completed dose or injection on `day` and its cover (the reference's definition, written out here)."""
    med = plan.medication  # type: ignore[attr-defined]
    patient = plan.patient  # type: ignore[attr-defined]
    if med in WINDOWS:
        stray = day + timedelta(days=rng.randint(0, 60)) if rng.random() < 0.3 else None  # ignored: the window wins
        return _visit(patient, day, plan=plan, kind="injection", covered_through=stray), day + timedelta(
            days=WINDOWS[med] - 1
        )
    kind = "injection" if rng.random() < 0.1 else "dose"  # an injection without a window: its own cover
    roll = rng.random()
    if roll < 0.25:
        covered = day + timedelta(days=rng.randint(0, 13))  # take-home supply
    elif roll < 0.3:
        covered = day - timedelta(days=1)  # a stale cover before the day: the day itself is covered
    else:
        covered = None
    cover = max(covered or day, day)
    return _visit(patient, day, plan=plan, kind=kind, covered_through=covered), cover


def _history(rng: random.Random, plan: object, out: DoseHistory, first: date) -> None:
    """One plan's doses from `first`, stepping by days without medication chosen around the boundaries."""
    patient_id, med = plan.patient_id, plan.medication  # type: ignore[attr-defined]
    key = (patient_id, med)
    earlier = out.doses[key]
    furthest = max((d.covered_through for d in earlier), default=None)
    day = first if furthest is None else max(first, furthest + timedelta(days=1))
    while day <= TODAY + timedelta(days=20):
        visit, cover = _one_dose(rng, plan, day)
        out.visits.append(visit)
        earlier.append(retention.Dose(day, cover))
        if rng.random() < 0.1:  # a second dose the same day (split dose, or a dose and an injection)
            visit, cover = _one_dose(rng, plan, day)
            out.visits.append(visit)
            earlier.append(retention.Dose(day, cover))
        furthest = max(d.covered_through for d in earlier)
        without = rng.choice([0, 0, 0, 0, 0, 0, 1, 2, 29, 30, 31, GAP - 1, GAP, GAP + 1, rng.randint(3, 200)])
        out.gaps[without] += 1
        day = furthest + timedelta(days=1 + without)


def _seed_doses(clinic: Clinic, rng: random.Random) -> DoseHistory:
    out = DoseHistory()
    for _ in range(14):
        patient = PatientFactory(clinic=clinic)
        meds = rng.sample([*ORAL, *WINDOWS], rng.choice([1, 1, 2]))
        for med in meds:
            first = TODAY - timedelta(days=rng.randint(0, 700))
            _history(rng, PlanFactory(patient=patient, medication=med, start_date=first), out, first)
        if rng.random() < 0.3:  # a second plan of the same medication: one history per (patient, medication)
            first = TODAY - timedelta(days=rng.randint(0, 200))
            _history(rng, PlanFactory(patient=patient, medication=meds[0], start_date=first), out, first)
        # Not doses: missed and cancelled visits, counselling, and a dose with no plan.
        plan = patient.plans.first()
        some_day = TODAY - timedelta(days=rng.randint(0, 300))
        out.visits += [
            _visit(patient, some_day, "missed", plan=plan),
            _visit(patient, some_day + timedelta(days=3), "cancelled", plan=plan),
            _visit(patient, some_day + timedelta(days=5), plan=plan, kind="counselling"),
            _visit(patient, some_day + timedelta(days=7)),
            _visit(patient, some_day + timedelta(days=9), "excused", plan=plan),
        ]
    for uncovered in (29, 30):  # daily doses whose cover ends 29 (still in) or 30 (left) days before today
        plan = PlanFactory(patient=PatientFactory(clinic=clinic), medication="methadone", start_date=TODAY)
        last = TODAY - timedelta(days=uncovered + 2)
        for day in (last - timedelta(days=1), last):
            out.visits.append(_visit(plan.patient, day, plan=plan, covered_through=day + timedelta(days=2)))
            out.doses[(plan.patient_id, "methadone")].append(retention.Dose(day, day + timedelta(days=2)))
    Visit.objects.bulk_create(out.visits)
    return out


@pytest.fixture
def other_clinics_doses(db):  # noqa: ANN001, ANN201
    """Another clinic's history, which must not show."""
    other = ClinicFactory()
    _seed_doses(other, random.Random(999))


@pytest.mark.parametrize("seed", range(6))
def test_the_sql_episodes_are_the_pure_reference_on_random_histories(clinic, other_clinics_doses, seed):
    out = _seed_doses(clinic, random.Random(seed))
    assert rules_for_clinic(clinic).readmission_gap_days == GAP
    expected = retention.episodes(out.doses, readmission_gap_days=GAP, today=TODAY)
    assert analytics.load_episodes(clinic, TODAY) == expected
    for med in ("methadone", "naltrexone_xr"):
        assert analytics.load_episodes(clinic, TODAY, med) == [e for e in expected if e.medication == med]


def test_a_patient_who_moved_clinic_keeps_the_episodes_of_the_visits_at_the_old_clinic(clinic, other_clinics_doses):
    """Issue #16: the episodes read a visit's medication from the plans of the clinic's patients (one clinic's plans
    in the hash); a patient who has since moved keeps their visits at this clinic, whose plans are looked up by id."""
    out = _seed_doses(clinic, random.Random(3))
    expected = retention.episodes(out.doses, readmission_gap_days=GAP, today=TODAY)
    moved = sorted({e.patient_id for e in expected})[:5]
    assert Patient.objects.filter(pk__in=moved).update(clinic=ClinicFactory()) == 5
    assert analytics.load_episodes(clinic, TODAY) == expected
    assert {e.patient_id for e in expected} >= set(moved)
    for med in ("methadone", "naltrexone_xr"):
        assert analytics.load_episodes(clinic, TODAY, med) == [e for e in expected if e.medication == med]


def test_the_random_histories_reach_every_boundary(clinic):
    gaps: Counter[int] = Counter()
    episodes: list[retention.Episode] = []
    for seed in range(6):
        out = _seed_doses(ClinicFactory(), random.Random(seed))
        gaps += out.gaps
        episodes += retention.episodes(out.doses, readmission_gap_days=GAP, today=TODAY)
    assert all(gaps[n] for n in (0, 29, 30, GAP - 1, GAP)), gaps
    assert any(e.left_on is not None and e.left_on != e.last_dose for e in episodes)  # left inside the episode
    assert any(e.left_on == e.last_dose for e in episodes) and any(e.left_on is None for e in episodes)
    # the two-day take-home covers ending 29 (in treatment) and 30 (left) days before today
    assert any(not e.left and (TODAY - e.last_dose).days == 31 for e in episodes)
    assert any(e.left_on == e.last_dose and (TODAY - e.last_dose).days == 32 for e in episodes)


def test_the_report_is_the_one_the_reference_episodes_give(clinic, monkeypatch):
    out = _seed_doses(clinic, random.Random(7))
    report = analytics.retention_report(clinic=clinic, today=TODAY)
    reference = retention.episodes(out.doses, readmission_gap_days=GAP, today=TODAY)
    monkeypatch.setattr(analytics, "load_episodes", lambda *args: reference)
    assert analytics.retention_report(clinic=clinic, today=TODAY) == report
    assert report["overall"]["episodes"] == len(reference) > 14


def test_a_shorter_readmission_gap_and_another_injection_interval_come_from_the_rule_set(clinic):
    rule_set = clinic.rule_set
    rule_set.rules = {
        **rule_set.rules,
        "readmission_gap_days": 45,
        "injection_windows": {
            **rule_set.rules["injection_windows"],
            "naltrexone_xr": {**rule_set.rules["injection_windows"]["naltrexone_xr"], "interval_days": 35},
        },
    }
    rule_set.save()
    patient = PatientFactory(clinic=clinic)
    plan = PlanFactory(patient=patient, medication="naltrexone_xr", start_date=date(2026, 1, 5))
    days = [date(2026, 1, 5), date(2026, 3, 25), date(2026, 6, 13)]  # 44 then 45 days after a 35-day cover
    Visit.objects.bulk_create(_visit(patient, d, plan=plan, kind="injection") for d in days)
    doses = {(patient.pk, "naltrexone_xr"): [retention.Dose(d, d + timedelta(days=34)) for d in days]}
    expected = retention.episodes(doses, readmission_gap_days=45, today=TODAY)
    assert [e.start for e in expected] == [date(2026, 1, 5), date(2026, 6, 13)]
    assert analytics.load_episodes(clinic, TODAY) == expected


# --- drift -------------------------------------------------------------------------------------------

RECENT_FROM = TODAY - timedelta(days=analytics.RECENT_DAYS - 1)
SINCE = RECENT_FROM - timedelta(days=analytics.BEFORE_DAYS)
# (kept over the last 4 weeks, kept over the 8 before): on either side of a 25% and a 30% fall.
COUNTS = [(15, 40), (16, 40), (3, 8), (4, 8), (0, 8), (10, 0), (0, 0), (7, 20), (8, 20), (14, 40), (21, 56)]


def _days(rng: random.Random, first: date, last: date, n: int) -> list[date]:
    span = (last - first).days + 1
    return sorted(first + timedelta(days=i) for i in rng.sample(range(span), min(n, span)))


def _drift_history(rng: random.Random, patient: Patient) -> list[tuple[date, str]]:
    """Decided visits (and noise) for one patient: counts at the thresholds, or a streak of 27-29 visit days."""
    visits: list[tuple[date, str]] = []
    if rng.random() < 0.5:
        recent, before = rng.choice(COUNTS) if rng.random() < 0.7 else (rng.randint(0, 28), rng.randint(0, 56))
        visits += [(d, "completed") for d in _days(rng, RECENT_FROM, TODAY, recent)]
        visits += [(d, "completed") for d in _days(rng, SINCE, RECENT_FROM - timedelta(days=1), before)]
        visits += [(d, "missed") for d in _days(rng, SINCE - timedelta(days=5), TODAY, rng.randint(0, 4))]
    else:
        # A run of attended visit days (every day or every other day) ending at a missed day.
        missed_on = TODAY - timedelta(days=rng.randint(0, 40))  # sometimes before the last 4 weeks
        streak, every = rng.choice([27, 28, 29, 40]), rng.choice([1, 1, 2])
        visits += [(missed_on - timedelta(days=every * (i + 1)), "completed") for i in range(streak)]
        visits.append((missed_on, "missed"))
        if rng.random() < 0.3:
            visits.append((missed_on, "completed"))  # a kept and a missed visit the same day: a missed day
        if rng.random() < 0.3:  # an earlier missed day breaks the run before its start
            visits.append((missed_on - timedelta(days=every * rng.randint(1, streak)), "missed"))
        visits += [(missed_on + timedelta(days=i), "completed") for i in range(1, rng.randint(1, 5))]
    if rng.random() < 0.3:
        visits.append((rng.choice([d for d, _ in visits] or [TODAY]), "completed"))  # two kept visits a day
    return visits


def _seed_drift(clinic: Clinic, rng: random.Random) -> dict[int, list[tuple[date, str]]]:
    by_patient: dict[int, list[tuple[date, str]]] = {}
    rows = []
    for _ in range(40):
        patient = PatientFactory(clinic=clinic)
        by_patient[patient.pk] = _drift_history(rng, patient)
        rows += [_visit(patient, day, status) for day, status in by_patient[patient.pk]]
        # Never counted: other statuses in the window.
        rows += [_visit(patient, TODAY - timedelta(days=3), s) for s in ("scheduled", "cancelled", "checked_in")]
    Visit.objects.bulk_create(rows)
    return by_patient


def _reference(by_patient: dict[int, list[tuple[date, str]]], ratio: float) -> dict[int, analytics.Drift]:
    """drift_of on what the list reads: the patient's decided visits of the last 12 weeks (today included)."""
    out = {}
    for pid, visits in by_patient.items():
        window = [(d, s) for d, s in visits if SINCE <= d <= TODAY]
        if (drift := analytics.drift_of(pid, window, today=TODAY, drop_ratio=ratio)) is not None:
            out[pid] = drift
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ratio", [0.25, 0.3])
def test_the_sql_drift_list_is_drift_of_on_random_histories(clinic, other_clinic, seed, ratio):
    by_patient = _seed_drift(clinic, random.Random(seed))
    _seed_drift(other_clinic, random.Random(seed + 100))
    expected = _reference(by_patient, ratio)
    got = analytics.load_drifts(clinic, TODAY, ratio)
    assert len(got) == len({d.patient_id for d in got})
    assert {d.patient_id: d for d in got} == expected
    assert any(d.falling for d in expected.values()) and any(d.missed_on for d in expected.values())
    assert len(expected) < len(by_patient)  # not everyone drifts


def test_the_drift_list_keeps_its_rows_and_order(clinic):
    by_patient = _seed_drift(clinic, random.Random(11))
    expected = _reference(by_patient, rules_for_clinic(clinic).drift_drop_ratio)
    rows = analytics.drift_list(clinic=clinic, today=TODAY)
    assert [r["patient_id"] for r in rows] == [
        d.patient_id
        for d in sorted(
            expected.values(),
            key=lambda d: (
                -(d.drop or 0),
                *Patient.objects.values_list("last_name", "first_name").get(pk=d.patient_id),
            ),
        )
    ]
    assert all(r["task_open"] is False for r in rows)

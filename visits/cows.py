"""The Clinical Opiate Withdrawal Scale (COWS; Wesson & Ling 2003): 11 items, each scored from a fixed set of
values, total 0–48. Pure code (STYLE.md): items in, a total or a clear error naming the item out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# item -> the scores the scale allows for it (Wesson & Ling, J Psychoactive Drugs 2003;35(2):253-9).
ITEMS: dict[str, tuple[int, ...]] = {
    "resting_pulse": (0, 1, 2, 4),
    "sweating": (0, 1, 2, 3, 4),
    "restlessness": (0, 1, 3, 5),
    "pupil_size": (0, 1, 2, 5),
    "bone_joint_aches": (0, 1, 2, 4),
    "runny_nose_tearing": (0, 1, 2, 4),
    "gi_upset": (0, 1, 2, 3, 5),
    "tremor": (0, 1, 2, 4),
    "yawning": (0, 1, 2, 4),
    "anxiety_irritability": (0, 1, 2, 4),
    "gooseflesh": (0, 3, 5),
}
MAX_TOTAL = sum(max(scores) for scores in ITEMS.values())  # 48
# Severity bands of the scale: 5–12 mild, 13–24 moderate, 25–36 moderately severe, over 36 severe.
_BANDS = ((36, "severe"), (24, "moderately severe"), (12, "moderate"), (4, "mild"))


class InvalidAssessment(ValueError):
    def __init__(self, message: str, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


def total(items: Mapping[str, Any]) -> int:
    """The COWS total, after checking every item is present, known and scored with an allowed value."""
    if not isinstance(items, Mapping):
        raise InvalidAssessment("items: give an object of item → score.")
    unknown = sorted(str(k) for k in items if k not in ITEMS)
    if unknown:
        raise InvalidAssessment(f"unknown COWS item(s) {', '.join(unknown)}; the items are {', '.join(ITEMS)}.")
    missing = [k for k in ITEMS if k not in items]
    if missing:
        raise InvalidAssessment(f"missing COWS item(s) {', '.join(missing)}: score all 11.", missing[0])
    for item, allowed in ITEMS.items():
        value = items[item]
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            choices = ", ".join(map(str, allowed))
            raise InvalidAssessment(f"{item}: scored {choices} on the COWS, not {value!r}.", item)
    return sum(int(items[item]) for item in ITEMS)


def severity(score: int) -> str:
    for floor, band in _BANDS:
        if score > floor:
            return band
    return "no withdrawal"

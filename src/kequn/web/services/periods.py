"""The periods a dashboard is read over, as a branch reports them: this month
so far, last month (what a head reads on the 1st), this quarter, this year, the
last 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

#: name -> its label (translated in the catalogue)
PERIODS = {
    "month": "本月",
    "last_month": "上月",
    "quarter": "本季度",
    "year": "本年",
    "days30": "近30天",
}
PERIOD_PATTERN = "^(" + "|".join(PERIODS) + ")$"


@dataclass(frozen=True)
class Period:
    name: str
    start: date
    end: date  # inclusive

    @property
    def closed(self) -> bool:
        """A period over and done (last month): bounded at its end. The current ones
        run "so far": up to this moment, whatever the page's day."""
        return self.name == "last_month"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> Period:
        """The period just before, of the same kind: the month before last month,
        the 30 days before the last 30."""
        if self.name in ("month", "last_month"):
            end = self.start - timedelta(days=1)
            return Period(self.name, end.replace(day=1), end)
        if self.name == "quarter":
            end = self.start - timedelta(days=1)
            return Period(self.name, end.replace(day=1, month=(end.month - 1) // 3 * 3 + 1), end)
        if self.name == "year":
            end = self.start - timedelta(days=1)
            return Period(self.name, end.replace(month=1, day=1), end)
        return Period(self.name, self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def period_of(name: str, day: date) -> Period:
    """The period ``name`` as seen on ``day``; the current ones end on ``day``."""
    if name == "last_month":
        end = day.replace(day=1) - timedelta(days=1)
        return Period(name, end.replace(day=1), end)
    if name == "quarter":
        return Period(name, day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1), day)
    if name == "year":
        return Period(name, day.replace(month=1, day=1), day)
    if name == "days30":
        return Period(name, day - timedelta(days=29), day)
    if name == "month":
        return Period(name, day.replace(day=1), day)
    raise ValueError(f"unknown period {name!r}: one of {', '.join(PERIODS)}")

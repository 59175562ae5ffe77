"""What a propensity model sees of a contact, written once for training and for
scoring: the same SQL turns past contacts into training rows and tonight's
proposals into rows to score.

Every row is a *target*: a customer, a moment, an action (or the bank's
campaign code), a channel. Its features are
- the contact's context: action, channel, month, day of the month (payroll
  and month-end days differ) and weekday (Beijing time);
- the customer's contact history strictly before the moment, from every
  contact Kequn knows (the bank's own history and outcomes logged in Kequn):
  contacts in the last 30, 90 and 365 days, successes in the last 365, days
  since the last contact, the last outcome, and the last outcome of another
  campaign;
- named values: the bank's own attributes and a few profile facts, each as it
  was known before the moment (``kequn.learn.examples`` says how).

Nothing here can read after the moment: the history is cut at ``ts`` by the
join itself, and the named values are given per target by the caller, who
takes them from the day before.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

POSITIVE = ("interested", "sold")
#: outcomes that were no contact at all: no training row, but a try in the history
NOT_A_CONTACT = ("not_reached",)
CONTEXT = ("action", "campaign", "product_id", "channel", "month", "day_of_month", "weekday")
HISTORY = (
    "contacts_30d",
    "contacts_90d",
    "contacts_365d",
    "successes_365d",
    "days_since_last",
    "last_outcome",
    "prev_campaign_outcome",
)
CATEGORICAL_HISTORY = ("last_outcome", "prev_campaign_outcome")
#: profile facts a model may use when the runs before a contact knew them
FACTS = (
    "age",
    "gender",
    "occupation",
    "tier",
    "lifecycle",
    "life_stage",
    "aum_month_end",
    "health_score",
    "risk_level_num",
    "risk_valid",
    "tenure_days",
    "n_products",
    "liquid_reserve_months",
    "fund_return",
    "salary_months",
)
#: the words a banker reads for each feature Kequn names itself (attributes carry
#: the label their mapping gives them; profile facts their playbook label)
LABELS = {
    "action": "动作",
    "campaign": "营销活动",
    "product_id": "产品",
    "channel": "渠道",
    "month": "月份",
    "day_of_month": "当月日期",
    "weekday": "星期",
    "contacts_30d": "近30天接触次数",
    "contacts_90d": "近90天接触次数",
    "contacts_365d": "近一年接触次数",
    "successes_365d": "近一年成功次数",
    "days_since_last": "距上次接触天数",
    "last_outcome": "上次接触结果",
    "prev_campaign_outcome": "上一个活动的结果",
}

_WEEKDAYS_ZH = "日一二三四五六"
_WEEKDAYS_EN = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
#: the calendar features' values in words, (Chinese, English): ``frame`` reads them
#: with DuckDB's ``month``, ``day`` and ``dayofweek`` (Sunday 0) in Beijing time
CALENDAR_WORDS: dict[str, tuple[Callable[[int], str], Callable[[int], str]]] = {
    "weekday": (lambda d: f"星期{_WEEKDAYS_ZH[d % 7]}", lambda d: _WEEKDAYS_EN[d % 7]),
    "day_of_month": (lambda d: f"每月{d}日", lambda d: f"day {d} of the month"),
    "month": (lambda m: f"{m}月", lambda m: calendar.month_name[m] if 1 <= m <= 12 else str(m)),
}


@dataclass(frozen=True)
class Tables:
    """The tables of a DuckDB connection the features are computed from:
    ``targets`` (key, customer_id, ts, action, campaign, product_id, channel), ``events``
    (customer_id, ts, campaign, outcome: every past contact) and ``values``
    (key and one column per named value)."""

    targets: str
    events: str
    values: str | None = None


def history_sql(t: Tables) -> str:
    """Each target's contact history, cut at the target's moment."""
    positive = ", ".join(f"'{o}'" for o in POSITIVE)
    return f"""
        WITH j AS (
            SELECT t.key, t.ts AS t_ts, t.campaign AS t_campaign, e.ts, e.campaign, e.outcome
            FROM {t.targets} t JOIN {t.events} e
              ON e.customer_id = t.customer_id AND e.ts < t.ts AND e.ts >= t.ts - INTERVAL 365 DAY)
        SELECT key,
               count(*) FILTER (WHERE ts >= t_ts - INTERVAL 30 DAY) AS contacts_30d,
               count(*) FILTER (WHERE ts >= t_ts - INTERVAL 90 DAY) AS contacts_90d,
               count(*) AS contacts_365d,
               count(*) FILTER (WHERE outcome IN ({positive})) AS successes_365d,
               date_diff('day', max(ts), any_value(t_ts)) AS days_since_last,
               arg_max(outcome, ts) AS last_outcome,
               arg_max(outcome, ts) FILTER (WHERE campaign IS DISTINCT FROM t_campaign)
                   AS prev_campaign_outcome
        FROM j GROUP BY key"""


def frame(con: duckdb.DuckDBPyConnection, t: Tables, named: Sequence[str]) -> pd.DataFrame:
    """Every target with its features, in the targets' key order."""
    values = ", ".join(f'v."{n}"' for n in named)
    join_values = f"LEFT JOIN {t.values} v USING (key)" if t.values and named else ""
    sql = f"""
        SELECT t.key, t.action, t.campaign, coalesce(t.product_id, 'none') AS product_id,
               coalesce(t.channel, 'none') AS channel,
               month(timezone('Asia/Shanghai', t.ts)) AS month,
               day(timezone('Asia/Shanghai', t.ts)) AS day_of_month,
               dayofweek(timezone('Asia/Shanghai', t.ts)) AS weekday,
               coalesce(h.contacts_30d, 0) AS contacts_30d, coalesce(h.contacts_90d, 0) AS contacts_90d,
               coalesce(h.contacts_365d, 0) AS contacts_365d,
               coalesce(h.successes_365d, 0) AS successes_365d,
               h.days_since_last, coalesce(h.last_outcome, 'none') AS last_outcome,
               coalesce(h.prev_campaign_outcome, 'none') AS prev_campaign_outcome
               {", " + values if values and join_values else ""}
        FROM {t.targets} t LEFT JOIN ({history_sql(t)}) h USING (key) {join_values}
        ORDER BY t.key"""
    return con.execute(sql).df()

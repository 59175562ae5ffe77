"""``kequn why CUSTOMER ACTION``: why a customer did or did not get an action in
the latest decision, by the stage and the rule, in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from sqlalchemy import select

from kequn import warehouse
from kequn.core.clock import now as clock_now
from kequn.core.errors import KequnError
from kequn.decide.one import decide_one
from kequn.playbook import LoadedPlaybook
from kequn.privacy.explain import trigger_zh
from kequn.rules import RULES, stage
from kequn.store import Store
from kequn.store.cards import Cards
from kequn.store.models import Customer


@dataclass
class Explanation:
    customer_id: str
    action: str
    decision: str | None
    verdict: str
    verdict_zh: str = ""
    stage: str | None = None
    rule: str | None = None
    lines: list[str] = field(default_factory=list)


def explain(
    duck: duckdb.DuckDBPyConnection,
    ops: Store,
    cards: Cards,
    pb: LoadedPlaybook,
    customer_id: str,
    action: str,
) -> Explanation:
    """Raises ``KequnError`` for an action the playbook does not have, or a
    customer the store does not know."""
    actions = {a.name: a for a in pb.playbook.actions}
    if action not in actions:
        raise KequnError(f"the playbook has no action {action!r}; its actions: {', '.join(sorted(actions))}")
    with ops.session() as s:
        card = s.get(Customer, customer_id)
        if card is None:
            raise KequnError(f"no customer {customer_id!r} in the operational store")
    last = warehouse.latest(duck, "decision")
    decision = last.name if last else None
    row = None
    if decision:
        warehouse.attach(duck, None, [decision])
        row = duck.execute(
            f"SELECT trigger, stage, rule, value, propensity, priority, channel, manager_id "
            f"FROM {decision}.pairs WHERE customer_id = ? AND action = ?",
            [customer_id, action],
        ).fetchone()
    out = Explanation(customer_id, action, decision, "")
    if row is not None:
        trigger, at, code, value, prop, prio, channel, manager = row
        out.lines.append(f"proposed by trigger {trigger!r} / 由触发器「{trigger_zh(pb, trigger)}」提出")
        if at == "task":
            out.verdict = f"task for {manager} by {channel}"
            out.verdict_zh = f"已生成任务：客户经理 {manager}，渠道 {channel}"
        else:
            r = RULES.get(code or "")
            st = stage(at)
            out.stage, out.rule = at, code
            out.verdict = f"dropped at stage '{st.en}' by rule {code}: {r.en if r else code}"
            out.verdict_zh = f"在「{st.zh}」环节被规则 {code} 拦下：{r.zh if r else code}"
        if prio is not None and prio == prio:
            out.lines.append(f"value {value:.2f} × propensity {prop:.3f} × urgency = priority {prio:.3f}")
        return out
    # not proposed in the latest decision: which triggers would propose it, and do they hold now
    with ops.session() as s:
        card = s.scalars(select(Customer).where(Customer.customer_id == customer_id)).one()
        judged = decide_one(s, pb, card, cards.facts(s, customer_id), clock_now())
    mine = [r for r in judged if r["action"] == action]
    out.verdict = "not proposed: no trigger for it held"
    out.verdict_zh = "未被提出：没有触发该动作的条件成立"
    for t in pb.playbook.triggers:
        if action in t.actions:
            held = any(r["trigger"] == t.name for r in mine)
            out.lines.append(
                f"trigger {t.name!r} ({t.zh}): {t.when} → {'holds now' if held else 'does not hold'}"
            )
    return out

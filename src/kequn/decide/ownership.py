"""全量客户全管户: after every decision run each customer has an owner.

In order: a departing manager's book passes whole to one successor; pending
claims (认领) of unowned customers are honoured; a customer whose tier moved
goes to a manager of the new tier's role (with a handover task); whoever is
still unowned is assigned within their branch to the tier's role, always to
the manager with the lightest book."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass

import pandas as pd

RM_ROLES = ("service_manager", "remote_manager", "wealth_manager", "private_banker")


@dataclass(frozen=True)
class Assignment:
    changes: pd.DataFrame  # customer_id, from_manager_id, to_manager_id, reason
    refused_claims: pd.DataFrame  # claim_id, reason
    unowned: int  # customers no manager could take (no staff of any role up the tree)


def _ancestors(branches: pd.DataFrame) -> dict[str, list[str]]:
    parent = dict(zip(branches.branch_id, branches.parent_id, strict=True))
    out: dict[str, list[str]] = {}
    for b in parent:
        chain, cur, seen = [], b, set()
        while cur is not None and cur == cur and cur not in seen:  # cur == cur: not NaN
            chain.append(cur)
            seen.add(cur)
            cur = parent.get(cur)
        out[b] = chain
    return out


def assign_owners(
    cards: pd.DataFrame,
    staff: pd.DataFrame,
    branches: pd.DataFrame,
    claims: pd.DataFrame,
    tier_roles: dict[str, str],
) -> Assignment:
    """``cards``: customer_id, home_branch_id, owner_manager_id, tier, tier_move.
    ``staff``: manager_id, branch_id, role, active, successor_id.
    ``claims``: claim_id, customer_id, manager_id (pending, oldest first)."""
    ancestors = _ancestors(branches)
    active = staff[staff.active.astype(bool)]
    by_unit_role: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m in active.itertuples():
        by_unit_role[(m.branch_id, m.role)].append(m.manager_id)
    role_of = dict(zip(staff.manager_id, staff.role, strict=True))
    branch_of = dict(zip(staff.manager_id, staff.branch_id, strict=True))
    is_active = dict(zip(staff.manager_id, staff.active.astype(bool), strict=True))
    # whole columns at a time: a million customers one by one took seconds
    owners = cards.owner_manager_id.astype(object)
    owner: dict[str, str | None] = dict(
        zip(cards.customer_id.tolist(), owners.where(owners.notna(), None).tolist(), strict=True)
    )
    load: dict[str, int] = defaultdict(int, Counter(m for m in owner.values() if m is not None))
    original = dict(owner)
    changes: list[tuple[str, str | None, str | None, str]] = []

    def move(customer: str, to: str, reason: str) -> None:
        before = owner.get(customer)
        if before is not None:
            load[before] -= 1
        owner[customer] = to
        load[to] += 1
        changes.append((customer, original.get(customer), to, reason))

    def candidates(branch: str, role: str) -> list[str]:
        for unit in ancestors.get(branch, [branch]):
            found = by_unit_role.get((unit, role))
            if found:
                return found
        return []

    # 1. departures: the whole book to one successor
    books: dict[str, list[str]] = defaultdict(list)
    leavers = {m for m in load if not is_active.get(m, False)}
    if leavers:
        for customer, m in owner.items():
            if m in leavers:
                books[m].append(customer)
    successors = dict(zip(staff.manager_id, staff.successor_id, strict=True))
    for leaver, book in sorted(books.items()):
        chosen = successors.get(leaver)
        if not (isinstance(chosen, str) and is_active.get(chosen, False)):
            pool = candidates(branch_of.get(leaver, ""), role_of.get(leaver, ""))
            chosen = min(pool, key=lambda m: (load[m], m)) if pool else None
        if chosen is None:
            for customer in book:  # nobody to inherit: back to the pool
                owner[customer] = None
                load[leaver] -= 1
            continue
        for customer in sorted(book):
            move(customer, chosen, "departure")

    # 2. claims of unowned customers, by managers of the customer's branch tree
    home = dict(zip(cards.customer_id, cards.home_branch_id, strict=True))
    refused = []
    for c in claims.itertuples():
        if c.customer_id not in owner:
            refused.append((c.claim_id, "unknown customer"))
        elif owner[c.customer_id] is not None:
            refused.append((c.claim_id, "already owned"))
        elif not is_active.get(c.manager_id, False):
            refused.append((c.claim_id, "manager not active"))
        elif branch_of.get(c.manager_id) not in ancestors.get(home[c.customer_id], []):
            refused.append((c.claim_id, "customer outside the manager's branch"))
        else:
            move(c.customer_id, c.manager_id, "claim")

    # 3. a tier move takes the customer to the new tier's role
    # by customer: each goes to the lightest book as the moves before it left the
    # books, so the order the cards came in (DuckDB's threads') must not choose
    moved = cards[cards.tier_move.isin(["up", "down"])].sort_values("customer_id", kind="stable")
    for r in moved.itertuples():
        current = owner.get(r.customer_id)
        want = tier_roles.get(r.tier)
        if current is None or want is None or role_of.get(current) == want:
            continue
        pool = candidates(r.home_branch_id, want)
        if pool:
            move(r.customer_id, min(pool, key=lambda m: (load[m], m)), "tier_move")

    # 4. everyone still unowned, to the lightest book of the right role
    unowned = 0
    heaps: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    pools: dict[tuple[str, str], list[str]] = {}

    def pool_for(branch: str, tier: str) -> list[str]:
        if (branch, tier) not in pools:
            found: list[str] = []
            for role in (tier_roles.get(tier, "service_manager"), *RM_ROLES):
                found = candidates(branch, role)
                if found:
                    break
            pools[(branch, tier)] = found
        return pools[(branch, tier)]

    # column lists, not rows: a million frame rows walked one by one took seconds
    waiting = sorted(
        (c, b, t)
        for c, b, t in zip(
            cards.customer_id.tolist(), cards.home_branch_id.tolist(), cards.tier.tolist(), strict=True
        )
        if owner.get(c) is None
    )
    for customer, branch, tier in waiting:
        pool = pool_for(branch, tier)
        if not pool:
            unowned += 1
            continue
        key = tuple(pool)
        heap = heaps.get(key)
        if heap is None:
            heap = [(load[m], m) for m in pool]
            heapq.heapify(heap)
            heaps[key] = heap
        while True:  # loads may have moved since the entry was pushed
            n, m = heapq.heappop(heap)
            if n == load[m]:
                break
            heapq.heappush(heap, (load[m], m))
        move(customer, m, "assigned")
        heapq.heappush(heap, (load[m], m))
    # a leaver's customers nobody could take are unowned now, not theirs
    assigned = {c for c, *_ in changes}
    for customer, before in original.items():
        if before is not None and owner.get(customer) is None and customer not in assigned:
            changes.append((customer, before, None, "departed_unassigned"))
    frame = pd.DataFrame(changes, columns=["customer_id", "from_manager_id", "to_manager_id", "reason"])
    return Assignment(frame, pd.DataFrame(refused, columns=["claim_id", "reason"]), unowned)

"""Votes: staff put a topic to a node's subtree and may close it early; eligible households or residents
cast one ballot each while it is open; the tally is shown only once it has closed. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Principal, access_object, path_within, tenant_chain
from linli.platform.db import within_scopes
from linli.platform.errors import BadRequest, Conflict, Forbidden, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.residentapp.context import AppContext, acts_as_staff
from linli.residents import service as registry
from linli.services.service import tenant_app
from linli.tenants.service import now
from linli.votes.models import Vote, VoteParticipation, VoteTally
from linli.votes.permissions import VOTES_CREATE, VOTES_READ, VOTES_UPDATE
from linli.votes.repository import VoteRepository
from linli.votes.schemas import OptionResult, VoteCreate, VoteOut


def state_of(vote: Vote, at: datetime) -> Literal["upcoming", "open", "closed"]:
    return "upcoming" if at < vote.opens_at else "open" if at < vote.closes_at else "closed"


def _snapshot(vote: Vote) -> dict[str, Any]:
    return {
        "title": vote.title,
        "options": vote.options,
        "ballot_per": vote.ballot_per,
        "anonymous": vote.anonymous,
        "opens_at": vote.opens_at,
        "closes_at": vote.closes_at,
    }


async def vote_out(session: AsyncSession, vote: Vote, *, voted: bool | None = None) -> VoteOut:
    repo = VoteRepository(session)
    state = state_of(vote, now())
    results = None
    if state == "closed":
        counts = await repo.tally(vote.id)
        results = [OptionResult(choice=i, label=label, count=counts.get(i, 0)) for i, label in enumerate(vote.options)]
    return VoteOut(
        id=vote.id,
        tenant_id=vote.tenant_id,
        node_id=vote.node_id,
        node_path=vote.node_path,
        service=vote.service_code,
        title=vote.title,
        description=vote.description,
        options=list(vote.options),
        ballot_per=vote.ballot_per,
        anonymous=vote.anonymous,
        opens_at=vote.opens_at,
        closes_at=vote.closes_at,
        state=state,
        turnout=(await repo.turnout([vote.id])).get(vote.id, 0),
        results=results,
        voted=voted,
    )


# Staff ----------------------------------------------------------------------------------------------


async def create_vote(session: AsyncSession, *, actor: Principal | None, body: VoteCreate) -> Vote:
    node = await NodeService(session).get_for(actor, body.node_id, VOTES_CREATE)
    chain = await tenant_chain(session, node.node_path)
    if not chain:
        raise BadRequest("the node lies in no tenant", code="no_tenant")
    if body.closes_at <= body.opens_at:
        raise BadRequest("closes_at must follow opens_at", code="bad_window")
    (await tenant_app(session, slug=chain[-1].slug)).check_kind(body.service, "vote")
    vote = Vote(
        tenant_id=chain[-1].id,
        node_id=node.id,
        node_path=node.node_path,
        service_code=body.service,
        title=body.title,
        description=body.description,
        options=body.options,
        ballot_per=body.ballot_per,
        anonymous=body.anonymous,
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        created_by=actor.id if actor is not None else None,
        created_at=now(),
    )
    repo = VoteRepository(session)
    repo.add(vote)
    await session.flush()
    for choice in range(len(body.options)):
        repo.add(VoteTally(vote_id=vote.id, choice=choice, node_path=vote.node_path, count=0))
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="vote.create",
        object_type="vote",
        object_id=vote.id,
        node_path=vote.node_path,
        after=_snapshot(vote),
    )
    return vote


async def get_vote(session: AsyncSession, *, actor: Principal, vote_id: int) -> Vote:
    return await access_object(
        session, actor, await VoteRepository(session).get(vote_id), permission=VOTES_READ, what="vote"
    )


async def list_votes(session: AsyncSession, *, node_id: int | None, before_id: int | None, limit: int) -> list[Vote]:
    within = await NodeService(session).path_filter(node_id)
    return list(
        await VoteRepository(session).list(within_path=within, above_any=None, before_id=before_id, limit=limit)
    )


async def close_vote(session: AsyncSession, *, actor: Principal, vote_id: int) -> Vote:
    """Close an open vote now (its results are published to the eligible)."""
    vote = await access_object(
        session,
        actor,
        await VoteRepository(session).get(vote_id, for_update=True),
        permission=VOTES_UPDATE,
        what="vote",
    )
    at = now()
    if state_of(vote, at) != "open":
        raise Conflict("only an open vote closes", code="vote_not_open")
    before = _snapshot(vote)
    vote.closes_at = at
    await audit.record(
        session,
        actor=actor,
        action="vote.close",
        object_type="vote",
        object_id=vote.id,
        node_path=vote.node_path,
        before=before,
        after=_snapshot(vote),
    )
    return vote


# Residents -----------------------------------------------------------------------------------------


async def _voters(session: AsyncSession, ctx: AppContext) -> list[tuple[str, str]]:
    """Who the caller may vote as, with the place: their households, then themselves (resident grants)."""
    households = [h for h in await registry.own_households(session, actor=ctx.actor) if ctx.inside(h.node_path)]
    return [(f"household:{h.id}", h.node_path) for h in sorted(households, key=lambda h: h.id)] + [
        (f"resident:{ctx.actor.id}", path) for path in ctx.resident_paths
    ]


def _voter_key(vote: Vote, voters: list[tuple[str, str]]) -> str | None:
    """The caller's ballot key for this vote (their first household in its subtree, or themselves)."""
    prefix = f"{vote.ballot_per}:"
    return next((k for k, path in voters if k.startswith(prefix) and path_within(path, vote.node_path)), None)


async def app_votes(session: AsyncSession, *, ctx: AppContext, before_id: int | None, limit: int) -> list[VoteOut]:
    """The votes of the app's switched-on vote services the caller may vote in, newest first. Read in the
    tenant's scope: a vote of the community lies above a resident's estate."""
    enabled = {s.code for s in ctx.app.services() if s.kind == "vote"}
    voters = await _voters(session, ctx)
    repo = VoteRepository(session)
    async with within_scopes(session, [ctx.app.node_path]):
        rows = [
            v
            for v in await repo.list(
                within_path=None, above_any=[p for _, p in voters], before_id=before_id, limit=limit
            )
            if v.service_code in enabled and _voter_key(v, voters) is not None
        ]
        voted = await repo.voted([v.id for v in rows], [k for k, _ in voters])
        return [await vote_out(session, v, voted=v.id in voted) for v in rows]


async def _eligible_vote(session: AsyncSession, ctx: AppContext, vote_id: int) -> tuple[Vote, str]:
    voters = await _voters(session, ctx)
    vote = await VoteRepository(session).get(vote_id)
    key = _voter_key(vote, voters) if vote is not None and vote.tenant_id == ctx.app.id else None
    if vote is None or key is None:
        raise NotFound("vote")
    ctx.app.service(vote.service_code, kind="vote")
    return vote, key


async def app_vote(session: AsyncSession, *, ctx: AppContext, vote_id: int) -> VoteOut:
    """A vote the caller may take part in, or (for staff looking at the app) one of the tenant's they may
    read; `voted` only for the former."""
    found = await VoteRepository(session).get(vote_id)
    if found is not None and ctx.inside(found.node_path) and acts_as_staff(ctx.actor, VOTES_READ, found.node_path):
        return await vote_out(session, found)
    async with within_scopes(session, [ctx.app.node_path]):
        vote, key = await _eligible_vote(session, ctx, vote_id)
        voted = await VoteRepository(session).voted([vote.id], [key])
        return await vote_out(session, vote, voted=bool(voted))


async def cast_ballot(session: AsyncSession, *, ctx: AppContext, vote_id: int, choice: int) -> Vote:
    """One ballot per household or resident (409 `already_voted`, also under concurrent requests)."""
    if ctx.app.status != "active":
        raise Forbidden("the tenant is read-only", code="tenant_read_only")
    async with within_scopes(session, [ctx.app.node_path]):
        vote, key = await _eligible_vote(session, ctx, vote_id)
        if state_of(vote, now()) != "open":
            raise Conflict("the vote is not open", code="vote_not_open")
        if choice >= len(vote.options):
            raise BadRequest("no such option", code="unknown_option")
        repo = VoteRepository(session)
        # An anonymous ballot leaves the voter in one table and a counter increment in the other.
        participation = VoteParticipation(
            vote_id=vote.id, voter_key=key, node_path=vote.node_path, choice=None if vote.anonymous else choice
        )
        if not await repo.participate(participation):
            raise Conflict("this household or resident has voted already", code="already_voted")
        await repo.count_one(vote.id, choice)
        await audit.record(
            session,
            actor=ctx.actor,
            action="vote.cast",
            object_type="vote",
            object_id=vote.id,
            node_path=vote.node_path,
            after={"voter": key} | ({} if vote.anonymous else {"choice": choice}),
        )
    return vote

"""Votes: `/api/v1/app/{slug}/votes` for residents, `/api/v1/votes` for staff."""

from __future__ import annotations

from fastapi import APIRouter

from linli.platform.access import DbSession
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.residentapp.context import app_context
from linli.services.api import Slug
from linli.votes import service
from linli.votes.permissions import VotesCast, VotesCreate, VotesRead, VotesUpdate
from linli.votes.schemas import BallotIn, BallotOut, VoteCreate, VoteOut

app_router = APIRouter(prefix="/api/v1/app/{slug}/votes", tags=["votes"])
router = APIRouter(prefix="/api/v1/votes", tags=["votes"])


@app_router.get("", operation_id="list_app_votes")
async def list_app_votes(
    slug: Slug, session: DbSession, principal: VotesRead, cursor: Cursor = None, limit: Limit = 50
) -> Page[VoteOut]:
    """The votes the caller (or their household) may take part in, newest first; results once closed."""
    ctx = await app_context(session, slug=slug, actor=principal)
    rows = await service.app_votes(session, ctx=ctx, before_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=rows, next_cursor=next_cursor(rows, limit))


@app_router.get("/{vote_id}", operation_id="get_app_vote")
async def get_app_vote(slug: Slug, vote_id: Id, session: DbSession, principal: VotesRead) -> VoteOut:
    return await service.app_vote(session, ctx=await app_context(session, slug=slug, actor=principal), vote_id=vote_id)


@app_router.post("/{vote_id}/ballot", status_code=201, operation_id="cast_ballot")
async def cast_ballot(slug: Slug, vote_id: Id, body: BallotIn, session: DbSession, principal: VotesCast) -> BallotOut:
    """One ballot per household or resident, while the vote is open (`409 already_voted`, `vote_not_open`)."""
    ctx = await app_context(session, slug=slug, actor=principal)
    vote = await service.cast_ballot(session, ctx=ctx, vote_id=vote_id, choice=body.choice)
    return BallotOut(vote_id=vote.id, anonymous=vote.anonymous)


@router.post("", status_code=201, operation_id="create_vote")
async def create_vote(body: VoteCreate, session: DbSession, principal: VotesCreate) -> VoteOut:
    """Put a topic to a node's households (one ballot each) or residents, between two times."""
    return await service.vote_out(session, await service.create_vote(session, actor=principal, body=body))


@router.get("", operation_id="list_votes")
async def list_votes(
    session: DbSession, principal: VotesRead, node_id: Id | None = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[VoteOut]:
    rows = await service.list_votes(session, node_id=node_id, before_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=[await service.vote_out(session, v) for v in rows], next_cursor=next_cursor(rows, limit))


@router.get("/{vote_id}", operation_id="get_vote")
async def get_vote(vote_id: Id, session: DbSession, principal: VotesRead) -> VoteOut:
    """A vote with its turnout; its results only once it has closed."""
    return await service.vote_out(session, await service.get_vote(session, actor=principal, vote_id=vote_id))


@router.post("/{vote_id}/close", operation_id="close_vote")
async def close_vote(vote_id: Id, session: DbSession, principal: VotesUpdate) -> VoteOut:
    """Close an open vote now: its results are published to the eligible."""
    return await service.vote_out(session, await service.close_vote(session, actor=principal, vote_id=vote_id))

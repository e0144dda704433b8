"""Every query of votes, participations and tallies; row-level security scopes them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli.votes.models import Vote, VoteParticipation, VoteTally


class VoteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Vote | VoteTally) -> None:
        self.session.add(row)

    async def get(self, vote_id: int, *, for_update: bool = False) -> Vote | None:
        stmt = select(Vote).where(Vote.id == vote_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, *, within_path: str | None, above_any: Sequence[str] | None, before_id: int | None, limit: int
    ) -> Sequence[Vote]:
        """Newest first; `within_path` keeps those targeting inside it, `above_any` those whose subtree
        holds one of the paths."""
        stmt = select(Vote).order_by(Vote.id.desc()).limit(limit)
        if within_path is not None:
            stmt = stmt.where(Vote.node_path.op("<@")(within_path))
        if above_any is not None:
            stmt = stmt.where(or_(false(), *(Vote.node_path.op("@>")(func.text2ltree(p)) for p in above_any)))
        if before_id is not None:
            stmt = stmt.where(Vote.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def participate(self, row: VoteParticipation) -> bool:
        """Record the ballot's voter: False when the household or resident already voted (also when a
        concurrent request just did: the primary key decides)."""
        stmt = (
            insert(VoteParticipation)
            .values(vote_id=row.vote_id, voter_key=row.voter_key, node_path=row.node_path, choice=row.choice)
            .on_conflict_do_nothing(index_elements=["vote_id", "voter_key"])
            .returning(VoteParticipation.voter_key)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def count_one(self, vote_id: int, choice: int) -> None:
        stmt = (
            update(VoteTally)
            .where(VoteTally.vote_id == vote_id, VoteTally.choice == choice)
            .values(count=VoteTally.count + 1)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def tally(self, vote_id: int) -> dict[int, int]:
        stmt = select(VoteTally.choice, VoteTally.count).where(VoteTally.vote_id == vote_id)
        return {choice: count for choice, count in await self.session.execute(stmt)}

    async def turnout(self, vote_ids: Sequence[int]) -> dict[int, int]:
        stmt = (
            select(VoteParticipation.vote_id, func.count())
            .where(VoteParticipation.vote_id.in_(vote_ids))
            .group_by(VoteParticipation.vote_id)
        )
        return {vote_id: count for vote_id, count in await self.session.execute(stmt)}

    async def voted(self, vote_ids: Sequence[int], voter_keys: Sequence[str]) -> set[int]:
        stmt = select(VoteParticipation.vote_id).where(
            VoteParticipation.vote_id.in_(vote_ids), VoteParticipation.voter_key.in_(voter_keys)
        )
        return set((await self.session.execute(stmt)).scalars().all())

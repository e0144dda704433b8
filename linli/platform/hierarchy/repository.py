"""Every query on the node tree. Rows are already limited to the caller's scope by row-level security."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.hierarchy.models import Location, Node


class NodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, node_id: int) -> Node | None:
        return await self.session.get(Node, node_id)

    async def get_by_code(self, code: str) -> Node | None:
        return (await self.session.execute(select(Node).where(Node.code == code))).scalar_one_or_none()

    async def get_by_path(self, path: str) -> Node | None:
        stmt = select(Node).where(Node.node_path == func.text2ltree(path))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def find_by_name(self, name: str, *, level: str | None = None) -> Node | None:
        stmt = select(Node).where(Node.name == name).order_by(Node.id).limit(1)
        if level:
            stmt = stmt.where(Node.level == level)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def search(
        self,
        *,
        q: str | None = None,
        level: str | None = None,
        parent_id: int | None = None,
        within_path: str | None = None,
        after_id: int | None = None,
        limit: int = 50,
        include_archived: bool = False,
    ) -> Sequence[Node]:
        stmt = select(Node).order_by(Node.id).limit(limit)
        if q:
            pattern = f"%{q.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Node.name).like(pattern),
                    Node.code.like(f"{q}%"),
                    func.lower(Node.name_en).like(pattern),
                )
            )
        if level:
            stmt = stmt.where(Node.level == level)
        if parent_id is not None:
            stmt = stmt.where(Node.parent_id == parent_id)
        if within_path is not None:
            stmt = stmt.where(Node.node_path.op("<@")(func.text2ltree(within_path)))
        if after_id is not None:
            stmt = stmt.where(Node.id > after_id)
        if not include_archived:
            stmt = stmt.where(Node.archived_at.is_(None))
        return (await self.session.execute(stmt)).scalars().all()

    async def names(self, ids: Iterable[int]) -> dict[int, str]:
        """The names of the nodes with these ids that the caller may see."""
        rows = await self.session.execute(select(Node.id, Node.name).where(Node.id.in_(list(ids))))
        return {int(i): str(name) for i, name in rows}

    async def ancestors(self, path: str) -> Sequence[Node]:
        """The node at `path` and every ancestor the caller may see, root first."""
        stmt = select(Node).where(Node.node_path.op("@>")(func.text2ltree(path))).order_by(func.nlevel(Node.node_path))
        return (await self.session.execute(stmt)).scalars().all()

    async def count_by_level(self) -> dict[str, int]:
        rows = await self.session.execute(select(Node.level, func.count()).group_by(Node.level))
        return {level: count for level, count in rows}

    def add(self, node: Node) -> None:
        self.session.add(node)

    async def set_parent(self, node: Node, parent: Node) -> None:
        await self.session.execute(
            text("update nodes set parent_id = :p where id = :id"), {"p": parent.id, "id": node.id}
        )

    async def rewrite_paths(self, table: str, *, old_path: str, new_path: str) -> None:
        """Move every row of `table` at or below `old_path` to the same place below `new_path`."""
        await self.session.execute(
            text(
                # subpath(p, nlevel(p)) is an error ("invalid positions"): the moved node itself is
                # rewritten to the new path, its descendants keep their tail below it.
                f'update "{table}" set node_path = case when node_path = text2ltree(:old) then text2ltree(:new) '
                "else text2ltree(:new) || subpath(node_path, nlevel(text2ltree(:old))) end "
                "where node_path <@ text2ltree(:old)"
            ),
            {"old": old_path, "new": new_path},
        )


TABLES_WITH_NODE_PATH = text(
    """select c.relname from pg_class c
       join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
       join pg_attribute a on a.attrelid = c.oid and a.attname = 'node_path' and not a.attisdropped
       where c.relkind in ('r', 'p') and has_table_privilege(c.oid, :privilege)
       order by c.relname"""
)


async def tables_with_node_path(session: AsyncSession, *, privilege: str) -> list[str]:
    """The one list of tenant-owned tables: every table (public schema) with a node_path column on
    which the session's role holds `privilege` (SELECT, UPDATE or DELETE)."""
    return list((await session.execute(TABLES_WITH_NODE_PATH, {"privilege": privilege})).scalars())


class LocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_node(self, node_id: int) -> Sequence[Location]:
        stmt = select(Location).where(Location.node_id == node_id).order_by(Location.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def under(self, path: str) -> Sequence[Location]:
        stmt = select(Location).where(Location.node_path.op("<@")(func.text2ltree(path))).order_by(Location.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def get(self, location_id: int) -> Location | None:
        return await self.session.get(Location, location_id)

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count()).select_from(Location))).scalar_one())

    def add(self, location: Location) -> None:
        self.session.add(location)

"""Ledger import: a 98 000-row workbook (the size of the articles' care ledger) imported end to end —
read with openpyxl, every row checked, identity numbers encrypted and hashed, stored set-based — against a
binary COPY of the same rows (already encrypted) straight into the same tables, the database's own rate.

    python bench/import/run.py [--rows 98000] [--rounds 3]

Runs against a database of its own (`linli_bench_import`: migrations and the small demo seed, for the
tree and 木棉岭社区's estates, buildings and units). Each round removes what the last one stored, then
times the COPY baseline and the import side by side, so a machine that slows down moves both. A second
import of the same workbook (nothing new: every person matched) is timed once.

Ends with `RESULT import rows_per_s=<n> rows_per_s_range=<lo>-<hi> copy_rows_per_s=<n> copy_ratio=<r>
copy_ratio_range=<lo>-<hi> reimport_rows_per_s=<n> rows=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.harness import PG, Spread, recreate_database, use_database  # noqa: E402

BENCH_DB = use_database("linli_bench_import")
COMMUNITY = "木棉岭社区"
ROOM_PREFIX = "B"  # the benchmark's rooms (B0001 …): what a round removes again
HEADER = ["小区", "楼栋", "单元", "房号", "姓名", "身份证号", "联系电话", "性别", "关爱类别"]
CARE = ["", "", "", "", "独居老人", "空巢老人", "残疾人", "低保户"]


def ledger_rows(rows: int, units: list[tuple[str, str, str]]) -> list[list[str]]:
    from linli.residents.schemas import id_check_character

    out = []
    for i in range(rows):
        estate, building, unit = units[i % len(units)]
        # Birth date and serial as the digits of i in a mixed radix: every number differs.
        first17 = f"510107{1930 + i % 80}{1 + i // 80 % 12:02d}{1 + i // 960 % 28:02d}{i // 26880:03d}"
        out.append(
            [
                estate,
                building,
                unit,
                f"{ROOM_PREFIX}{i // 3:05d}",
                f"住户{i:06d}",
                first17 + id_check_character(first17),
                f"139{i:08d}",
                "男" if i % 2 else "女",
                CARE[i % len(CARE)],
            ]
        )
    return out


def workbook(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(f"postgresql://postgres@{PG}/{BENCH_DB}", autocommit=True)


def units_of_community() -> list[tuple[str, str, str]]:
    with admin() as conn:
        return [
            (str(e), str(b), str(u))
            for e, b, u in conn.execute(
                "select n.name, b.name, u.name from nodes c join nodes n on n.node_path <@ c.node_path "
                "and n.level = 'estate' join locations b on b.node_id = n.id and b.kind = 'building' "
                "join locations u on u.parent_id = b.id and u.kind = 'unit' where c.name = %s order by u.id",
                (COMMUNITY,),
            ).fetchall()
        ]


def remove_imported() -> None:
    with admin() as conn:
        conn.execute(
            "delete from people where household_id in (select id from households where room like %s)",
            (f"{ROOM_PREFIX}%",),
        )
        conn.execute("delete from households where room like %s", (f"{ROOM_PREFIX}%",))
        conn.execute("vacuum analyze people")
        conn.execute("vacuum analyze households")


class Path_(str):
    """A node path, written in ltree's binary form (psycopg knows no ltree)."""


def register_ltree(conn: psycopg.Connection[Any]) -> None:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "ltree")
    if info is None:
        raise SystemExit("the ltree extension is missing")

    class LtreeDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj: Any) -> bytes:
            return b"\x01" + str(obj).encode()  # ltree_send: a version byte, then the text

    info.register(conn)  # so that COPY's set_types knows the name
    conn.adapters.register_dumper(Path_, LtreeDumper)


def copy_baseline(rows: list[list[str]]) -> float:
    """The same people and households written with binary COPY straight into the tables (encrypted and
    hashed beforehand, places resolved beforehand): seconds."""
    from linli.residents.crypto import IdNumberCodec

    codec = IdNumberCodec()
    with admin() as conn:
        places = {
            (str(e), str(b), str(u)): (int(eid), str(path), int(uid))
            for e, b, u, eid, path, uid in conn.execute(
                "select n.name, b.name, u.name, n.id, n.node_path::text, u.id from nodes n "
                "join locations b on b.node_id = n.id and b.kind = 'building' "
                "join locations u on u.parent_id = b.id and u.kind = 'unit' where n.level = 'estate'"
            ).fetchall()
        }
        households: dict[tuple[int, int, str], int] = {}
        next_id = conn.execute("select coalesce(max(id), 0) + 1 from households").fetchone()
        first_id = int(next_id[0]) if next_id else 1
        people = []
        for r in rows:
            estate_id, path, unit_id = places[(r[0], r[1], r[2])]
            key = (estate_id, unit_id, r[3])
            household_id = households.setdefault(key, first_id + len(households))
            gender = "male" if r[7] == "男" else "female"
            people.append((household_id, Path_(path), r[4], r[6], gender, codec.encrypt(r[5]), codec.hash(r[5])))
        paths = {p[0]: p[1] for p in people}
        register_ltree(conn)
        household_columns = "id, node_id, node_path, location_id, room"
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("select setval(pg_get_serial_sequence('households', 'id'), %s)", (first_id + len(households),))
            with cur.copy(f"copy households ({household_columns}) from stdin (format binary)") as cp:
                cp.set_types(["int8", "int8", "ltree", "int8", "text"])
                for (estate_id, unit_id, room), hid in households.items():
                    cp.write_row((hid, estate_id, paths[hid], unit_id, room))
            columns = "household_id, node_path, name, phone, gender, id_number_encrypted, id_number_hash"
            with cur.copy(f"copy people ({columns}) from stdin (format binary)") as cp:
                cp.set_types(["int8", "ltree", "text", "text", "text", "text", "text"])
                for person in people:
                    cp.write_row(person)
        return time.perf_counter() - started


async def import_once(data: bytes, node_id: int) -> tuple[float, int, int]:
    """The import as `linli residents import` runs it, from the workbook's bytes: seconds, people
    created, people unchanged."""
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session
    from linli.residents import ledger

    try:
        started = time.perf_counter()
        async with scoped_session(SYSTEM_SCOPE) as session:
            report = await ledger.import_ledger(
                session, actor=None, node_id=node_id, table=ledger.read_table(data, "ledger.xlsx")
            )
        elapsed = time.perf_counter() - started
    finally:
        await dispose_engines()
    if report.error_count:
        raise SystemExit(f"the benchmark's ledger has refused rows: {report.errors[:3]}")
    return elapsed, report.people_created, report.people_unchanged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=98_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    recreate_database(PG, BENCH_DB)
    from linli.demo import seed_demo

    asyncio.run(seed_demo(scale="small", progress=lambda step: None))
    with admin() as conn:
        found = conn.execute("select id from nodes where name = %s and level = 'community'", (COMMUNITY,)).fetchone()
    if found is None:
        raise SystemExit(f"the demo seed has no {COMMUNITY}")
    community_id = int(found[0])
    rows = ledger_rows(args.rows, units_of_community())
    data = workbook(rows)
    print(f"workbook: {args.rows} rows, {len(data) / 1e6:.1f} MB", flush=True)

    imports, copies, ratios = [], [], []
    reimport = 0.0
    for round_no in range(1, args.rounds + 1):
        remove_imported()
        copy_s = copy_baseline(rows)
        remove_imported()
        import_s, created, _ = asyncio.run(import_once(data, community_id))
        if created != args.rows:
            raise SystemExit(f"round {round_no}: {created} people created, not {args.rows}")
        if round_no == 1:
            again_s, again_created, unchanged = asyncio.run(import_once(data, community_id))
            if again_created or unchanged != args.rows:
                raise SystemExit("importing the same workbook again stored something")
            reimport = args.rows / again_s
        imports.append(args.rows / import_s)
        copies.append(args.rows / copy_s)
        ratios.append(copy_s / import_s)
        print(f"round {round_no}: import {import_s:.1f} s, COPY {copy_s:.1f} s", flush=True)
    remove_imported()

    rate, copy, ratio = Spread.of(imports), Spread.of(copies), Spread.of(ratios)
    print(f"import {rate.text(',.0f', 'rows/s')}; COPY {copy.text(',.0f', 'rows/s')}; ratio {ratio.text('.3f', '×')}")
    print(
        f"RESULT import {rate.fields('rows_per_s', '.0f')} copy_rows_per_s={copy.value:.0f} "
        f"{ratio.fields('copy_ratio', '.3f')} reimport_rows_per_s={reimport:.0f} rows={args.rows}",
        flush=True,
    )


if __name__ == "__main__":
    main()

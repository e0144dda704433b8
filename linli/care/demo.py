"""The demo's care step: the hand-written cared-for persons watched through their estate's demo sensors."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.care.repository import CareRepository

DEMO_ESTATES = ("悦峰尚府", "林荫街9号院")


async def seed_care_demo(session: AsyncSession, scale: str) -> None:
    """DEMO_STEPS entry (idempotent): link the cared-for persons of the demo estates to demo devices there,
    once per estate (an estate with links keeps them, whoever was registered since; estates without demo
    devices, such as 林荫街9号院 today, get their links once devices exist)."""
    await CareRepository(session).link_demo_sensors(DEMO_ESTATES)

"""Where events come from, defined once for every floor: the events domain takes them in, the tenants
package binds API keys to them (and must not import events). The tuples derive from the `Literal`s
the schemas use."""

from __future__ import annotations

from typing import Literal, get_args

# Sources only the platform's own paths (the IoT alarm handler, the signed AI detection endpoint) or an
# API key created for that source may claim.
SystemSource = Literal["iot_alarm", "ai_video", "robot"]
# Sources an API key may be created for: the system sources and the integrations that name their own.
ApiKeySource = Literal[SystemSource, "hotline", "upstream"]
# Every source: the above, residents' reports and staff patrols.
Source = Literal[ApiKeySource, "resident_report", "staff_patrol"]

SOURCES: tuple[Source, ...] = get_args(Source)
API_KEY_SOURCES: tuple[ApiKeySource, ...] = get_args(ApiKeySource)
SYSTEM_SOURCES: tuple[SystemSource, ...] = get_args(SystemSource)
# Sources whose keys sign their requests (with a per-key signing secret, not the key's own secret) and
# send them to their own endpoint, never plain POST /events.
SIGNED_SOURCES: tuple[SystemSource, ...] = ("ai_video",)

"""IoT: device registry, ingest, rules, alarms, commands, rollups and the simulator."""

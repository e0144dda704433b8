"""The web UI: a server-rendered shell with static assets that talks to the JSON API."""

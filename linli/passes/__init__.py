"""Visitor and large-item passes: residents issue them, the app shows a QR code signed with the tenant's
Ed25519 key, gates verify it offline (cached public key and revocation list) and record passages online."""

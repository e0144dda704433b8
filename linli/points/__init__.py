"""Points: a double-entry ledger of residents' points against the tenant's pool (issue 14, kind 6)."""

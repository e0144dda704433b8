"""The node tree: district > street > community > grid > estate, each with an ltree path."""

"""Population registry: households at a unit of an estate, the people in them, cared-for persons."""

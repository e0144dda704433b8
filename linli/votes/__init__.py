"""Votes and surveys: a topic with options for the households or residents of a node's subtree, open
between two times, one ballot each (a primary key), results hidden until the close and then shown to the
eligible; anonymous ballots are counter increments that cannot be joined back to their voters."""

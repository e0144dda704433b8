"""Care for cared-for persons: their own sensors watched per person (not seen, SOS), away periods and
quiet hours, scheduled visits by the grid worker, and the care overview per node."""

"""Patrol rounds (巡检/巡查) by grid workers and property staff."""

"""Linli (邻里): multi-tenant smart-community governance platform."""

"""Bookable resources (rooms, courts, parking, day-care slots) and their bookings (issue 14, kind 2)."""

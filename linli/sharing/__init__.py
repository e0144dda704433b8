"""Sharing: a tool box, items offered and asked for, lost and found; loans with due dates, returns, and
reminders when a loan is overdue."""

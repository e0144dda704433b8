"""Activities and volunteer shifts: sign-ups, a waitlist, check-in, volunteer hours, reminders (issue 14)."""

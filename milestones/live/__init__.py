"""Live delivery: a broadcaster wake-up bus, and replay-then-live streams read from the database."""

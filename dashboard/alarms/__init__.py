"""Alarms of every kind: cards on every control-room screen, the crew's check-in, the API."""

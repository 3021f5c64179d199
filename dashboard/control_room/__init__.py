"""The control room: the map, unit counts, the unit list, lost contact, emergencies."""

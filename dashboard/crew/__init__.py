"""The crew page (/crew): one unit's status, position, taskings and EMERGENCY button."""

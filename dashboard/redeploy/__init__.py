"""Redeployment: suggested units, taskings and plans, emergency acknowledgements, the audit log."""

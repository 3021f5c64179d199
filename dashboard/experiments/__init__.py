"""Experiment mode on the screen: allocation page, arm lines, crew list, and the API routes."""

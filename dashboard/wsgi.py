"""WSGI entry point for production: ``gunicorn dashboard.wsgi:server``."""

from __future__ import annotations

from dashboard.app import create_app_from_settings
from patrolwatch.settings import load_settings

server = create_app_from_settings(load_settings()).server

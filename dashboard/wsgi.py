"""WSGI entry point for production: ``gunicorn dashboard.wsgi:server``.

Importing this module is what "production" means to PatrolWatch: it refuses to build the app
(ConfigError, so gunicorn's workers fail to boot and gunicorn exits) with the default or a
short PATROL_SECRET_KEY, and, like every entry point, without dashboard users unless
PATROL_OPEN_ACCESS=true. The development server (`patrolwatch dashboard`) only warns about
the key and uses a random one of its own.
"""

from __future__ import annotations

import logging

from dash import Dash
from flask import Flask

from dashboard.app import create_app_from_settings, require_production_secret
from patrolwatch.errors import ConfigError
from patrolwatch.settings import load_settings

log = logging.getLogger("dashboard.wsgi")


def production_app() -> Dash:
    """Build the app from the environment with the production checks; log why it cannot."""
    settings = load_settings()
    try:
        require_production_secret(settings)
        return create_app_from_settings(settings)
    except ConfigError as exc:
        # gunicorn prints the traceback too; this line is the one a person needs.
        logging.basicConfig()
        for line in exc.problems:
            log.critical("refusing to start: %s", line)
        raise


server: Flask = production_app().server

"""Experiment mode: randomised hot-spot patrol trials (issue 19, docs/experiments.md).

``design`` (the file), ``allocation`` and ``measures`` / ``inference`` / ``rings`` are pure;
``panel`` reads the two-tier history beside the archive's readers; ``service`` freezes days in
Redis through :mod:`patrolwatch.store.experiments`; ``report`` writes the CSV and HTML.
"""

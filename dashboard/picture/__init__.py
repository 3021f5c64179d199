"""The live picture: built once per change of live state by one producer, read by every screen.

``build`` turns live state into pre-serialised parts (pure), ``delta`` says what changed on
the map between versions (pure), ``producer`` runs the build under a Redis lock, ``serve``
answers a screen's refresh and ``/api/units`` from the stored bytes.
"""

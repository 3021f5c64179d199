"""The simulated fleet: ``types`` (plain values), ``fleet`` (pure movement), ``publisher``."""

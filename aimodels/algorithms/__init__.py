"""Training algorithms: one plugin module each (see base.py and docs/algorithms.md); registry() finds them."""

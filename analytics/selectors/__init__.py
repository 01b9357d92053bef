"""Analytics reads: figures computed in the database from the other apps' tables, within a Scope."""

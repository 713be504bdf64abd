"""robotlib's benchmarks: ``make bench`` runs them (see README.md beside this file)."""

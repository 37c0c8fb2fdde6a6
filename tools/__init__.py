"""Developer tools for Tandem (not deployed)."""

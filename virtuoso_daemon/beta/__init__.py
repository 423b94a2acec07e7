"""beta."""

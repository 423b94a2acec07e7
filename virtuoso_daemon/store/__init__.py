"""In-memory market state structures used by the market store actor."""

"""tickers."""

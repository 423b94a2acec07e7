"""Health monitor: eight kinds of check, hold-down, Conditions on transitions, metrics."""

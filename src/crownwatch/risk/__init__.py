"""Assets and crown jewels, risk objects, risk-based ranking."""

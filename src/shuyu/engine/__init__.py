"""Runs plans: the plaintext reference executor (a test oracle) and the secure executor over the
three-party engine and the joins; the data sources behind ``LocalQuery`` steps."""

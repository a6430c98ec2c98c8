"""Trace estimators: the exact trace of ∂f/∂x and Hutchinson's estimator (Hutchinson 1989)."""

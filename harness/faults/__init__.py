"""Fault injection: interrupt what the harness does and prove data and the machine are left as they were."""

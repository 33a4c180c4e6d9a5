"""Capacity planning: sweep data size and concurrency, fit how p95 grows, predict where targets break."""

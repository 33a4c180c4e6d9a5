"""Prepared datasets: generated once, kept on a long-lived server, copied for each run instead of regenerated."""

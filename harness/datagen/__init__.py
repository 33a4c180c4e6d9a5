"""Synthetic production-shaped data: domain generators streamed into the head schema by binary COPY."""

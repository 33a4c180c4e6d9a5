"""Open-model arrivals: each user sends on a fixed schedule of intended start times, late or not.

Like wrk2, the total rate is split evenly over the users; a request that starts late keeps its intended
start, so its latency includes the time it waited behind a slow predecessor (no coordinated omission).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ArrivalSchedule:
    """Intended start times first_s, first_s + interval_s, ... for one user."""

    first_s: float
    interval_s: float
    issued: int = 0

    @classmethod
    def for_user(cls, total_rate_per_s: float, users: int, start_s: float) -> ArrivalSchedule:
        """One user's share of `total_rate_per_s` spread over `users` users, starting at `start_s`."""
        if total_rate_per_s <= 0 or users <= 0:
            raise ValueError("rate and users must be positive")
        return cls(start_s, users / total_rate_per_s)

    @property
    def upcoming_s(self) -> float:
        """The intended start of the next request, not yet taken."""
        return self.first_s + self.issued * self.interval_s

    def next_intended(self) -> float:
        """The next intended start time; the caller waits until then, or sends at once when late."""
        intended = self.upcoming_s
        self.issued += 1
        return intended

    def due_by(self, t_s: float) -> int:
        """How many requests this schedule asked for by time `t_s` (the denominator of the achieved rate)."""
        if t_s < self.first_s:
            return 0
        return math.floor((t_s - self.first_s) / self.interval_s + 1e-9) + 1

    def due_between(self, start_s: float, end_s: float) -> int:
        """How many intended start times fall in [start_s, end_s] (the measured window, warm-up excluded)."""
        before = 0 if start_s <= self.first_s else math.ceil((start_s - self.first_s) / self.interval_s - 1e-9)
        return max(self.due_by(end_s) - before, 0)


def achieved_ratio(sent: int, due: int) -> float | None:
    """Requests sent over requests due by the end; None when nothing was due (the gate is then not evaluated)."""
    return sent / due if due > 0 else None

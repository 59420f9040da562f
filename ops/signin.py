"""Sign-in throttling rules: growing delays after failed sign-ins, never a lock-out.

Three counters over a rolling window, each with its own free allowance, starting
delay and ceiling:

- **account + address** — one browser guessing one account: delays start early and
  grow to 15 minutes;
- **address** — one address guessing across many accounts ("password spraying"):
  delays start after a few more failures and grow to 15 minutes;
- **account** — many addresses guessing one account: delays grow to one minute at
  most, so nobody can keep the real user out for longer than that, while a
  distributed guesser gets about one try a minute.

The delay runs from the latest failure the counter saw. Attempts refused during a
delay are not failures (they never reached the password check), so hammering does
not lengthen the wait; a successful sign-in clears the account's counters (not the
address's, so signing in to one's own account does not reset a spraying count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class ThrottleRule:
    name: str  # "account+address", "address", "account"
    free: int  # failures in the window before any delay
    first_delay: timedelta  # the delay after the first failure over ``free``
    ceiling: timedelta  # delays double up to this

    def delay(self, failures: int) -> timedelta:
        """The wait after ``failures`` failures in the window (0 while free)."""
        if failures <= self.free:
            return timedelta(0)
        doublings = min(failures - self.free - 1, 30)
        return min(self.ceiling, self.first_delay * (2**doublings))


RULES: tuple[ThrottleRule, ...] = (
    ThrottleRule("account+address", 3, timedelta(seconds=5), timedelta(minutes=15)),
    ThrottleRule("address", 10, timedelta(seconds=5), timedelta(minutes=15)),
    ThrottleRule("account", 10, timedelta(seconds=5), timedelta(minutes=1)),
)


@dataclass(frozen=True)
class Wait:
    rule: str
    seconds: int  # whole seconds, at least 1
    failures: int


def wait_for(
    rule: ThrottleRule, failures: int, last_failure: datetime | None, now: datetime
) -> Wait | None:
    """How long ``rule`` makes the next attempt wait, or None."""
    if last_failure is None:
        return None
    remaining = (last_failure + rule.delay(failures) - now).total_seconds()
    if remaining <= 0:
        return None
    return Wait(rule.name, max(1, math.ceil(remaining)), failures)


def longest(waits: list[Wait | None]) -> Wait | None:
    found = [w for w in waits if w is not None]
    return max(found, key=lambda w: w.seconds) if found else None


def wait_text(seconds: int) -> str:
    """``45 seconds``, ``1 minute``, ``15 minutes`` (rounded up)."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"

"""Who is an adult, for payouts: 18 years from the date of birth Stripe verified."""

from __future__ import annotations

from datetime import date

ADULT_AGE = 18


def adult_from(born: date) -> date:
    """The day someone born on `born` turns 18 (29 February birthdays on 1 March)."""
    try:
        return born.replace(year=born.year + ADULT_AGE)
    except ValueError:
        return date(born.year + ADULT_AGE, 3, 1)


def is_adult(birthdate: str | None, today: date) -> bool:
    if not birthdate:
        return False
    try:
        born = date.fromisoformat(birthdate)
    except ValueError:
        return False
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years >= ADULT_AGE

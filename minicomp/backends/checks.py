"""The run-time checks both backends' programs make, raising what eager torch raises for the same input."""

from __future__ import annotations

ZERO_DIVISION = "ZeroDivisionError"  # torch's whole message for an integer // or % by zero
INDEX = "index"
# A Triton kernel reports a failed check in three int64 slots: a flag, the bad index, the size it missed.
SLOTS_PER_CHECK = 3


def check_range(low: int, high: int, size: int) -> None:
    """Raise like torch when indices whose smallest is `low` and largest `high` are not all in [0, size)."""
    if low < 0 or high >= size:
        raise index_error(low if low < 0 else high, size)


def index_error(index: int, size: int) -> IndexError:
    """The error for one index outside [0, size), naming that index as torch does."""
    return IndexError(f"index {index} is out of bounds for size {size}")


def zero_division_error() -> RuntimeError:
    """What torch raises for an integer floor division, remainder or fmod by zero."""
    return RuntimeError(ZERO_DIVISION)


def raise_failed(kinds: list[str], slots: list[int]) -> None:
    """Raise for the first check a kernel flagged; `slots` holds SLOTS_PER_CHECK numbers per check."""
    for position, kind in enumerate(kinds):
        flag, index, size = slots[position * SLOTS_PER_CHECK:(position + 1) * SLOTS_PER_CHECK]
        if flag:
            raise zero_division_error() if kind == ZERO_DIVISION else index_error(index, size)

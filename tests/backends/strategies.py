"""Hypothesis strategies for backend property tests: shapes, dtypes and tensors from safe value domains."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INTS = [torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8]
BOOL = [torch.bool]
ALL = FLOATS + INTS + BOOL

SPECIAL_VALUES = [0.0, -0.0, math.inf, -math.inf, math.nan]


def shapes(min_rank: int = 0, max_rank: int = 4, min_size: int = 0, max_size: int = 5) -> st.SearchStrategy:
    """Shapes with size-1 dims, odd sizes and (when min_size is 0) zero-size dims."""
    return st.lists(st.integers(min_size, max_size), min_size=min_rank, max_size=max_rank).map(tuple)


def make_tensor(shape, dtype: torch.dtype, seed: int, domain: str = "any", specials: bool = False) -> torch.Tensor:
    """A deterministic tensor of `dtype` with values from `domain`.

    Domains: "any" (floats around [-4, 4]), "positive" ([0.1, 4]), "unit" ((-1, 1)), "halves" (multiples
    of 0.5, to hit rounding ties), "ties" (few distinct values, to hit equal elements), "near_one"
    (magnitudes in [0.5, 1.5], for products), "nonzero" (no zeros: divisors), "small" ([0, 4]: exponents,
    indices). Integers use a range that cannot overflow in one op; bool is random bits.
    """
    generator = torch.Generator().manual_seed(seed)
    if dtype is torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    if not dtype.is_floating_point:
        low, high = _INT_RANGES[domain]
        if dtype is torch.uint8:
            low, high = max(low, 0), max(high, 2)
        values = torch.randint(low, high, shape, generator=generator)
        if domain == "nonzero":
            values = torch.where(values == 0, 1, values)
        return values.to(dtype)
    uniform = torch.rand(shape, generator=generator, dtype=torch.float64)
    sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0).double()
    if domain == "any":
        values = (uniform * 8 - 4)
    elif domain == "positive":
        values = uniform * 3.9 + 0.1
    elif domain == "unit":
        values = uniform * 1.8 - 0.9
    elif domain == "halves":
        values = torch.round(uniform * 16 - 8) / 2
    elif domain == "ties":
        values = torch.round(uniform * 4 - 2)
    elif domain == "near_one":
        values = sign * (uniform + 0.5)
    elif domain == "nonzero":
        values = sign * (uniform * 3.9 + 0.1)
    elif domain == "small":
        values = uniform * 4
    else:
        raise ValueError(domain)
    values = values.to(dtype)
    if specials and values.numel():
        positions = torch.rand(shape, generator=generator) < 0.2
        choices = torch.tensor(SPECIAL_VALUES, dtype=dtype)
        picks = choices[torch.randint(0, len(SPECIAL_VALUES), shape, generator=generator)]
        values = torch.where(positions, picks, values)
    return values


_INT_RANGES = {
    "any": (-20, 21), "positive": (1, 21), "unit": (-1, 2), "halves": (-8, 9), "ties": (-2, 3),
    "near_one": (-2, 3), "nonzero": (-9, 10), "small": (0, 5),
}

seeds = st.integers(0, 2**31 - 1)


@st.composite
def reshape_target(draw, shape) -> tuple:
    """A shape with as many elements as `shape`: split its element count into random factors."""
    numel = math.prod(shape)
    if numel == 0:
        return tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=4).filter(lambda s: 0 in s)))
    factors = []
    remaining = numel
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, remaining + 1) if remaining % d == 0]
        factor = draw(st.sampled_from(divisors))
        factors.append(factor)
        remaining //= factor
    factors.append(remaining)
    return tuple(draw(st.permutations(factors)))


@st.composite
def axes_subset(draw, rank: int) -> tuple:
    """A sorted tuple of distinct axes (possibly empty)."""
    return tuple(sorted(draw(st.sets(st.integers(0, rank - 1), max_size=rank)))) if rank else ()

"""Math the generated Triton kernels call, written with core triton.language only.

libdevice is not available under TRITON_INTERPRET=1, so the functions Triton lacks (atan, round
half to even, Python-style floor division and remainder, NaN-propagating max/min, rounding to
bfloat16) are spelled out
here once, and the same code runs in the interpreter and on the GPU.
"""

import triton
import triton.language as tl


@triton.jit
def maximum(a, b):
    """torch.maximum: NaN wins."""
    return tl.where((a > b) | (a != a), a, b)


@triton.jit
def minimum(a, b):
    """torch.minimum: NaN wins."""
    return tl.where((a < b) | (a != a), a, b)


@triton.jit
def round_to_bfloat16(x):
    """float32 -> the nearest bfloat16, ties to even, held in float32 (c10's rounding; the interpreter's
    `.to(tl.bfloat16)` truncates instead)."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + (((bits >> 16) & 1) + 0x7FFF)) & 0xFFFF0000
    return tl.where(x != x, x, bits.to(tl.float32, bitcast=True))


@triton.jit
def product(a, b):
    return a * b


@triton.jit
def argmax_combine(value_a, index_a, value_b, index_b):
    """Larger value (NaN counts as largest), first index on ties: torch.argmax's rule."""
    a_wins = (value_a > value_b) | ((value_a != value_a) & (value_b == value_b))
    tie = (value_a == value_b) | ((value_a != value_a) & (value_b != value_b))
    take_a = a_wins | (tie & (index_a < index_b))
    return tl.where(take_a, value_a, value_b), tl.where(take_a, index_a, index_b)


@triton.jit
def argmin_combine(value_a, index_a, value_b, index_b):
    """Smaller value (NaN counts as smallest), first index on ties: torch.argmin's rule."""
    a_wins = (value_a < value_b) | ((value_a != value_a) & (value_b == value_b))
    tie = (value_a == value_b) | ((value_a != value_a) & (value_b != value_b))
    take_a = a_wins | (tie & (index_a < index_b))
    return tl.where(take_a, value_a, value_b), tl.where(take_a, index_a, index_b)


@triton.jit
def trunc(x):
    return tl.where(x >= 0, tl.floor(x), tl.ceil(x))


@triton.jit
def round_half_even(x):
    rounded = tl.floor(x + 0.5)
    is_tie = (rounded - x) == 0.5
    is_odd = (rounded - 2.0 * tl.floor(rounded * 0.5)) != 0
    return tl.where(is_tie & is_odd, rounded - 1.0, rounded)


@triton.jit
def sign(x):
    return (x > 0).to(x.dtype) - (x < 0).to(x.dtype)


@triton.jit
def atan(x):
    """Cephes-style arctangent: reduce |x| to [0, tan(pi/8)], then an odd polynomial (about 2 ulp)."""
    t = tl.abs(x)
    big = t > 2.414213562373095
    medium = (t > 0.4142135623730950) & (~big)
    reduced = tl.where(big, -1.0 / t, tl.where(medium, (t - 1.0) / (t + 1.0), t))
    offset = tl.where(big, 1.5707963267948966, tl.where(medium, 0.7853981633974483, 0.0))
    z = reduced * reduced
    poly = (((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z
    result = offset + reduced + reduced * poly
    return tl.where(x < 0, -result, result)


@triton.jit
def atan2(y, x):
    base = atan(y / x)
    pi = 3.141592653589793
    adjusted = tl.where(x < 0, tl.where(y >= 0, base + pi, base - pi), base)
    at_zero = tl.where(y > 0, pi / 2, tl.where(y < 0, -pi / 2, tl.where(x < 0, pi, 0.0)))
    return tl.where(x == 0, at_zero, adjusted)


@triton.jit
def tanh(x):
    e = tl.exp(-2.0 * tl.abs(x))
    magnitude = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -magnitude, magnitude)


@triton.jit
def floordiv_int(a, b):
    """Python floor division for integers (Triton's // truncates toward zero)."""
    quotient = a // b
    fix = ((a % b) != 0) & ((a < 0) != (b < 0))
    return tl.where(fix, quotient - 1, quotient)


@triton.jit
def remainder_int(a, b):
    """Python modulo for integers: the result takes the divisor's sign."""
    rest = a % b
    fix = (rest != 0) & ((rest < 0) != (b < 0))
    return tl.where(fix, rest + b, rest)


@triton.jit
def remainder_float(a, b):
    rest = a - tl.floor(a / b) * b
    return rest


@triton.jit
def fmod_float(a, b):
    return a - trunc(a / b) * b


@triton.jit
def power(a, b):
    """a ** b for floats, with torch's signs for negative bases and integer exponents."""
    magnitude = tl.exp2(b * tl.log2(tl.abs(a)))
    b_is_integer = tl.floor(b) == b
    b_is_odd = b_is_integer & ((b - 2.0 * tl.floor(b * 0.5)) != 0)
    signed = tl.where((a < 0) & b_is_odd, -magnitude, magnitude)
    result = tl.where((a < 0) & (~b_is_integer), float("nan"), signed)
    return tl.where(b == 0, 1.0, tl.where(a == 0, tl.where(b > 0, 0.0, float("inf")), result))

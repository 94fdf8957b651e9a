"""The tensor element types the IR knows, named like torch's, with their byte sizes."""

from __future__ import annotations

import enum
import math
import struct


class DType(enum.Enum):
    """An element type; `value` is the short name used in dumps (f32, bf16, i64, ...)."""

    BOOL = "b8"
    UINT8 = "u8"
    INT8 = "i8"
    INT16 = "i16"
    INT32 = "i32"
    INT64 = "i64"
    FLOAT16 = "f16"
    BFLOAT16 = "bf16"
    FLOAT32 = "f32"
    FLOAT64 = "f64"

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return _ITEMSIZE[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.FLOAT16, DType.BFLOAT16, DType.FLOAT32, DType.FLOAT64)

    @property
    def is_low_precision(self) -> bool:
        """Types that torch computes in float32 and rounds after every op."""
        return self in (DType.FLOAT16, DType.BFLOAT16)

    @property
    def is_integer(self) -> bool:
        return self in (DType.UINT8, DType.INT8, DType.INT16, DType.INT32, DType.INT64)

    @property
    def lowest(self):
        """The smallest value of the type (False, an int, or -inf): the identity of a max reduction."""
        if self.is_float:
            return -math.inf
        if self is DType.BOOL:
            return False
        return 0 if self is DType.UINT8 else -(1 << (8 * self.itemsize - 1))  # two's complement

    @property
    def highest(self):
        """The largest value of the type (True, an int, or inf): the identity of a min reduction."""
        if self.is_float:
            return math.inf
        if self is DType.BOOL:
            return True
        bits = 8 * self.itemsize
        return (1 << bits) - 1 if self is DType.UINT8 else (1 << (bits - 1)) - 1

    def wrap(self, value: int) -> int:
        """An integer wrapped into this integer type's range, as C casts and torch do (-1 as uint8 is 255)."""
        return (int(value) - self.lowest) % (self.highest - self.lowest + 1) + self.lowest

    def nearest(self, value: float) -> float:
        """The float32, float16 or bfloat16 number nearest `value` (ties to even, through float32 as c10
        converts): what a constant of this type holds, so printers that keep it in float32 registers
        write eager's number (0.1 as float16 is 0.0999755859375)."""
        if self not in (DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16) or math.isnan(value) or math.isinf(value):
            return value
        try:
            single = struct.unpack("<f", struct.pack("<f", value))[0]
        except OverflowError:  # beyond float32's range
            return math.copysign(math.inf, value)
        if self is DType.FLOAT16:
            try:
                return struct.unpack("<e", struct.pack("<e", single))[0]
            except OverflowError:
                return math.copysign(math.inf, value)
        if self is DType.BFLOAT16:
            bits = struct.unpack("<I", struct.pack("<f", single))[0]
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
            return struct.unpack("<f", struct.pack("<I", bits))[0]
        return single

    @property
    def full_name(self) -> str:
        """The torch/numpy spelling: float32, bfloat16, int64, bool."""
        return self.name.lower()

    def __repr__(self) -> str:
        return self.value


_ITEMSIZE = {
    DType.BOOL: 1,
    DType.UINT8: 1,
    DType.INT8: 1,
    DType.INT16: 2,
    DType.INT32: 4,
    DType.INT64: 8,
    DType.FLOAT16: 2,
    DType.BFLOAT16: 2,
    DType.FLOAT32: 4,
    DType.FLOAT64: 8,
}

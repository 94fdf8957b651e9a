"""The C++ spelling of each pointwise primitive: element types, operators, literals, and the helpers the
generated translation unit starts with (bfloat16 and float16 conversions that round to nearest even,
torch's integer floor division and remainder, NaN-propagating maximum and minimum).

float16/bfloat16 values are computed in float and rounded back after every op, as eager does; the
code is compiled without -ffast-math, so NaN, infinities and signed zeros behave as in eager.
"""

from __future__ import annotations

import math

from minicomp.ir import DType, Node, Op
from minicomp.ir.ops import EXACT_IN_LOW_PRECISION, UNARY

# bool is stored as uint8_t: GCC vectorizes no loop that loads a `bool` (a byte read as uint8_t and
# compared with 0 vectorizes; torch's bools are bytes of 0 or 1)
STORAGE_TYPE = {
    DType.BOOL: "uint8_t", DType.UINT8: "uint8_t", DType.INT8: "int8_t", DType.INT16: "int16_t",
    DType.INT32: "int32_t", DType.INT64: "int64_t", DType.FLOAT16: "_Float16", DType.BFLOAT16: "uint16_t",
    DType.FLOAT32: "float", DType.FLOAT64: "double",
}

PRELUDE = r"""// no #include: the compiler's builtins stand in for <cmath> and <cstdint>, whose parsing was most of
// the time a small translation unit took to compile
typedef __INT8_TYPE__ int8_t;
typedef __INT16_TYPE__ int16_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
#define INT64_C(c) __INT64_C(c)
#define INT64_MAX __INT64_MAX__
#define INT64_MIN (-__INT64_MAX__ - 1)
#define NAN __builtin_nanf("")
#define INFINITY __builtin_inff()

namespace mc {
#define MC_MATH1(name) \
  static inline float name(float x) { return __builtin_##name##f(x); } \
  static inline double name(double x) { return __builtin_##name(x); }
#define MC_MATH2(name) \
  static inline float name(float x, float y) { return __builtin_##name##f(x, y); } \
  static inline double name(double x, double y) { return __builtin_##name(x, y); }
MC_MATH1(fabs) MC_MATH1(exp) MC_MATH1(log) MC_MATH1(log1p) MC_MATH1(expm1) MC_MATH1(sqrt) MC_MATH1(sin)
MC_MATH1(cos) MC_MATH1(tan) MC_MATH1(tanh) MC_MATH1(atan) MC_MATH1(erf) MC_MATH1(floor) MC_MATH1(ceil)
MC_MATH1(trunc) MC_MATH1(nearbyint)
MC_MATH2(atan2) MC_MATH2(fmod) MC_MATH2(pow) MC_MATH2(copysign)
// bfloat16 is the upper half of a float: widening is exact, narrowing rounds to nearest even (NaN stays NaN)
static inline float from_bf16(uint16_t bits) { return __builtin_bit_cast(float, (uint32_t)bits << 16); }
// (every bfloat16 value a kernel holds is already rounded, so storing one keeps its upper half)
static inline uint16_t bf16_bits(float f) { return (uint16_t)(__builtin_bit_cast(uint32_t, f) >> 16); }
// rounding kept in 32-bit lanes (no narrowing to 16 bits and back), so a loop of it vectorizes; a NaN
// becomes the quiet NaN (as torch's vectorized conversion makes every NaN one NaN: a compare and a blend)
static inline float round_bf16(float f) {
  uint32_t u = __builtin_bit_cast(uint32_t, f);
  uint32_t nearest = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  return f != f ? NAN : __builtin_bit_cast(float, nearest);
}
static inline float round_f16(float f) { return (float)(_Float16)f; }
static inline float bits_to_float(uint32_t u) { return __builtin_bit_cast(float, u); }
static inline uint32_t float_to_bits(float f) { return __builtin_bit_cast(uint32_t, f); }
// exp, tanh and log of a float: Cephes' polynomials, branch-free so that loops over them vectorize
// (glibc's expf is one call per element); each within 1.3 ulp of the exact result (tests check it).
// MC_FMA is one rounding where the machine has fused multiply-add, two otherwise: only these
// polynomials use it, the program's own multiplies and adds are never fused (-ffp-contract=off).
#ifdef __FMA__
#define MC_FMA(a, b, c) __builtin_fmaf(a, b, c)
#else
#define MC_FMA(a, b, c) ((a) * (b) + (c))
#endif
static inline float exp_float(float x) {
  // n = x / ln 2 rounded to an integer: 1.5 * 2^23 pushes the fraction out, and the low bits of the sum
  // hold n itself (no float-to-int conversion: out of range, the selects at the end decide the result)
  float shifted = x * 1.44269504088896341f + 12582912.0f;
  float n = shifted - 12582912.0f;
  int32_t k = (int32_t)(float_to_bits(shifted) - 0x4b400000u);
  float r = MC_FMA(n, -0.693359375f, x);
  r = MC_FMA(n, 2.12194440e-4f, r);
  float z = r * r;
  float p = MC_FMA(1.9875691500e-4f, r, 1.3981999507e-3f);
  p = MC_FMA(p, r, 8.3334519073e-3f);
  p = MC_FMA(p, r, 4.1665795894e-2f);
  p = MC_FMA(p, r, 1.6666665459e-1f);
  p = MC_FMA(p, r, 5.0000001201e-1f);
  float y = MC_FMA(p, z, r) + 1.0f;
  int32_t half = k >> 1;  // two factors 2^half * 2^(k - half), so a subnormal result is still reached
  float scale1 = bits_to_float((uint32_t)(half + 127) << 23);
  float scale2 = bits_to_float((uint32_t)(k - half + 127) << 23);
  float result = y * scale1 * scale2;
  result = x > 88.72283905206835f ? INFINITY : result;
  result = x < -103.972077083991796f ? 0.0f : result;
  return x != x ? x : result;
}
static inline float tanh_float(float x) {
  float a = mc::fabs(x);
  float z = x * x;
  float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z
                 - 3.33332819422e-1f) * z * x + x;
  float e = exp_float(2.0f * a);
  float large = mc::copysign(1.0f - 2.0f / (e + 1.0f), x);
  return a < 0.625f ? small : (x != x ? x : large);
}
static inline float log_float(float x) {
  uint32_t u = float_to_bits(x);
  bool subnormal = x < 1.17549435e-38f;
  float scaled = subnormal ? x * 8388608.0f : x;  // 2^23 lifts a subnormal into the normal range
  u = float_to_bits(scaled);
  int32_t e = (int32_t)((u >> 23) & 0xff) - 126 - (subnormal ? 23 : 0);
  float m = bits_to_float((u & 0x807fffffu) | 0x3f000000u);  // in [0.5, 1)
  bool below = m < 0.707106781186547524f;
  float fe = (float)(below ? e - 1 : e);
  float r = below ? m + m - 1.0f : m - 1.0f;
  float z = r * r;
  float y = ((((((((7.0376836292e-2f * r - 1.1514610310e-1f) * r + 1.1676998740e-1f) * r - 1.2420140846e-1f) * r
                 + 1.4249322787e-1f) * r - 1.6668057665e-1f) * r + 2.0000714765e-1f) * r - 2.4999993993e-1f) * r
            + 3.3333331174e-1f) * r * z;
  y = y + -2.12194440e-4f * fe;
  y = y + -0.5f * z;
  float result = r + y + 0.693359375f * fe;
  result = x == INFINITY ? x : result;
  result = x == 0.0f ? -INFINITY : result;
  result = x < 0.0f ? NAN : result;
  return x != x ? x : result;
}

template <class T> static inline T maximum(T a, T b) { return a != a ? a : (b != b ? b : (a > b ? a : b)); }
template <class T> static inline T minimum(T a, T b) { return a != a ? a : (b != b ? b : (a < b ? a : b)); }
template <class T> static inline T sign(T a) { return (T)((a > 0) - (a < 0)); }
// integer division as torch: the floor, a zero divisor gives 0 here (the kernel's check raises), and
// the most negative value divided by -1 wraps instead of trapping
template <class T> static inline T floordiv_int(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return (T)(0 - (uint64_t)a);
  T q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? (T)(q - 1) : q;
}
template <class T> static inline T remainder_int(T a, T b) {
  if (b == 0 || b == -1) return 0;
  T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;
}
template <class T> static inline T fmod_int(T a, T b) { return (b == 0 || b == -1) ? (T)0 : (T)(a % b); }
template <class T> static inline T floordiv_float(T a, T b) {
  if (b == 0) return a / b;
  T mod = mc::fmod(a, b);
  T div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
  if (div == 0) return mc::copysign((T)0, a / b);
  T floor_div = mc::floor(div);
  if (div - floor_div > (T)0.5) floor_div += 1;
  return floor_div;
}
template <class T> static inline T remainder_float(T a, T b) {
  T mod = mc::fmod(a, b);
  return (mod != 0 && ((b < 0) != (mod < 0))) ? mod + b : mod;
}
template <class T> static inline T power_int(T base, T exponent) {
  if (exponent < 0) return base == 1 ? 1 : (base == -1 ? ((exponent & 1) ? -1 : 1) : 0);
  T result = 1;
  while (exponent) { if (exponent & 1) result = (T)(result * base); base = (T)(base * base); exponent >>= 1; }
  return result;
}
}  // namespace mc
"""

UNARY_CODE = {
    Op.NEG: "(-{0})", Op.ABS: "mc::fabs({0})", Op.EXP: "mc::exp({0})", Op.LOG: "mc::log({0})",
    Op.LOG1P: "mc::log1p({0})", Op.EXPM1: "mc::expm1({0})", Op.SQRT: "mc::sqrt({0})",
    Op.RSQRT: "(({t})1 / mc::sqrt({0}))", Op.RECIPROCAL: "(({t})1 / {0})", Op.SIN: "mc::sin({0})",
    Op.COS: "mc::cos({0})", Op.TAN: "mc::tan({0})", Op.TANH: "mc::tanh({0})", Op.ATAN: "mc::atan({0})",
    Op.ERF: "mc::erf({0})", Op.FLOOR: "mc::floor({0})", Op.CEIL: "mc::ceil({0})",
    Op.TRUNC: "mc::trunc({0})", Op.ROUND: "mc::nearbyint({0})", Op.SIGN: "mc::sign({0})",
    Op.LOGICAL_NOT: "({0} == 0)", Op.BITWISE_NOT: "(~{0})",
}
BINARY_CODE = {
    Op.ADD: "({0} + {1})", Op.SUB: "({0} - {1})", Op.MUL: "({0} * {1})", Op.DIV: "({0} / {1})",
    Op.MAXIMUM: "mc::maximum({0}, {1})", Op.MINIMUM: "mc::minimum({0}, {1})", Op.ATAN2: "mc::atan2({0}, {1})",
    Op.BITWISE_AND: "({0} & {1})", Op.BITWISE_OR: "({0} | {1})", Op.BITWISE_XOR: "({0} ^ {1})",
    Op.EQ: "({0} == {1})", Op.NE: "({0} != {1})", Op.LT: "({0} < {1})", Op.LE: "({0} <= {1})",
    Op.GT: "({0} > {1})", Op.GE: "({0} >= {1})",
}
BOOL_CODE = {
    Op.ADD: "({0} | {1})", Op.MUL: "({0} & {1})", Op.MAXIMUM: "({0} | {1})", Op.MINIMUM: "({0} & {1})",
    Op.BITWISE_NOT: "(!{0})", Op.ABS: "{0}", Op.NEG: "{0}",
}
INTEGER_CODE = {
    Op.FLOORDIV: "mc::floordiv_int({0}, {1})", Op.REMAINDER: "mc::remainder_int({0}, {1})",
    Op.FMOD: "mc::fmod_int({0}, {1})", Op.POW: "mc::power_int({0}, {1})",
    Op.ABS: "({0} < 0 ? -{0} : {0})",
}
# float (float32, and float16/bfloat16 computed in float): the prelude's vectorizable versions
SINGLE_CODE = {Op.EXP: "mc::exp_float({0})", Op.TANH: "mc::tanh_float({0})", Op.LOG: "mc::log_float({0})"}
FLOAT_CODE = {
    Op.FLOORDIV: "mc::floordiv_float({0}, {1})", Op.REMAINDER: "mc::remainder_float({0}, {1})",
    Op.FMOD: "mc::fmod({0}, {1})", Op.POW: "mc::pow({0}, {1})",
}


def compute_type(dtype: DType) -> str:
    """Registers hold float16/bfloat16 as float, bools as bool."""
    if dtype is DType.BOOL:
        return "bool"
    return "float" if dtype.is_low_precision else STORAGE_TYPE[dtype]


def load_code(dtype: DType, element: str) -> str:
    """A stored element as its compute type."""
    if dtype is DType.BFLOAT16:
        return f"mc::from_bf16({element})"
    if dtype is DType.FLOAT16:
        return f"(float){element}"
    if dtype is DType.BOOL:
        return f"({element} != 0)"
    return element


def store_code(dtype: DType, value: str) -> str:
    """A compute-type value as its stored type (float16/bfloat16 values are already rounded)."""
    if dtype is DType.BFLOAT16:
        return f"mc::bf16_bits({value})"
    return f"({STORAGE_TYPE[dtype]})({value})"


def round_to(dtype: DType, code: str) -> str:
    """float `code` rounded to float16 or bfloat16, held in float."""
    return f"mc::round_bf16({code})" if dtype is DType.BFLOAT16 else f"mc::round_f16({code})"


def rounded(node: Node, code: str) -> str:
    """`code` rounded to the float16/bfloat16 type of `node`'s result, as eager rounds after every op."""
    dtype = node.output.dtype
    if not dtype.is_low_precision or node.op in EXACT_IN_LOW_PRECISION:
        return code
    return round_to(dtype, code)


def pointwise_code(node: Node, args: list[str]) -> str:
    """The C++ expression of a pointwise node (or cast or where) on its operands' variables."""
    op = node.op
    dtype = node.inputs[0].dtype if node.inputs else node.output.dtype
    if op is Op.CAST:
        return cast_code(dtype, node.attrs["dtype"], args[0])
    if op is Op.WHERE:
        return f"({args[0]} ? {args[1]} : {args[2]})"
    if op in UNARY:
        if op in (Op.FLOOR, Op.CEIL, Op.TRUNC, Op.ROUND, Op.SIGN) and not dtype.is_float:
            return args[0] if dtype is DType.BOOL or op is not Op.SIGN else UNARY_CODE[op].format(*args)
        if op is Op.LOGICAL_NOT:
            return f"(!{args[0]})" if dtype is DType.BOOL else UNARY_CODE[op].format(*args)
    if dtype is DType.BOOL and op in BOOL_CODE:
        return BOOL_CODE[op].format(*args)
    if dtype.is_float and dtype is not DType.FLOAT64 and op in SINGLE_CODE:
        return SINGLE_CODE[op].format(*args)
    special = (FLOAT_CODE if dtype.is_float else INTEGER_CODE).get(op)
    if special is not None:
        return special.format(*args)
    table = UNARY_CODE if op in UNARY else BINARY_CODE
    return table[op].format(*args, t=compute_type(dtype))


def cast_code(source: DType, target: DType, value: str) -> str:
    """torch's conversion of `value` from `source` to `target` (through int64 from a float to a narrow
    integer, as c10 converts; through float to float16/bfloat16)."""
    if target is DType.BOOL:
        return f"({value} != 0)"
    if target.is_low_precision:
        return round_to(target, f"(float)({value})")
    if source.is_float and target in (DType.UINT8, DType.INT8, DType.INT16):
        return f"({STORAGE_TYPE[target]})(int64_t)({value})"
    return f"({STORAGE_TYPE[target]})({value})"


def literal(value, dtype: DType) -> str:
    """A Python number as a C++ value of `dtype`'s compute type."""
    ctype = compute_type(dtype)
    if dtype is DType.BOOL:
        return "true" if value else "false"
    if dtype.is_float:
        value = float(value)
        if math.isnan(value):
            return f"({ctype})NAN"
        if math.isinf(value):
            return f"({ctype})({'-' if value < 0 else ''}INFINITY)"
        return f"({ctype}){value!r}"
    return f"({ctype})INT64_C({int(value)})"


def extreme(dtype: DType, lowest: bool) -> str:
    """The identity of max (lowest=True) or min over `dtype`, in its compute type."""
    if dtype is DType.INT64:
        return "INT64_MIN" if lowest else "INT64_MAX"  # -2**63 has no literal: its minus applies to 2**63
    return literal(dtype.lowest if lowest else dtype.highest, dtype)

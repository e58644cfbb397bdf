"""The core's float32 exp (firmware_zephyr/core/src/odl_exp.h), bit for bit.

Every step is one float32 operation in the C order (numpy's float32 ufuncs
round each operation like the C code compiled with -ffp-contract=off), so
the twin's softmax gives the C core's bits instead of differing in the last
ulp as libm's expf and numpy's exp do. Domain x <= 0; relative error under
8.2e-8 against the exact e^x on [-87.33654, 0].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = np.float32
X_MIN = F32(-87.33654)
_LOG2E = F32(1.44269504088896341)
_LN2_HI = F32(0.693359375)
_LN2_LO = F32(-2.12194440e-4)
_POLY = tuple(F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))


def exp(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """odl_exp() elementwise on float32 input (x <= 0)."""
    x = np.asarray(x, dtype=F32)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        t = x * _LOG2E
        tm = t - F32(0.5)
        n = np.where(np.isfinite(tm), tm, F32(0.0)).astype(np.int32)  # C truncates toward zero
        nf = n.astype(F32)
        r = x - nf * _LN2_HI
        r = r - nf * _LN2_LO
        p = np.full_like(x, _POLY[0])
        for c in _POLY[1:]:
            p = p * r + c
        r2 = r * r
        y = p * r2
        y = y + r
        y = y + F32(1.0)
        scale = (np.clip(n, -126, 0) + 127).astype(np.uint32) << np.uint32(23)
        out = (y * scale.view(F32)).astype(F32)
    out = np.where(x < X_MIN, F32(0.0), out)
    return np.where(np.isnan(x), x, out).astype(F32)

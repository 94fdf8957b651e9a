"""Dynamic shapes: means, variances and norms divide by a size known only at run time, without fallback."""

import pytest
import torch
import torch.nn.functional as F

from helpers import compile_and_compare, fallback_ops


def normalise(x, w, b):
    return F.layer_norm(x, x.shape[-1:], w, b) + x.mean(0) + x.var(-1, keepdim=True) + x.std(0, unbiased=False)


@pytest.mark.parametrize("rows", [3, 6])
def test_size_dependent_constants_compile_without_fallback(rows):
    torch.manual_seed(rows)
    x, w, b = torch.randn(rows, rows + 2), torch.randn(rows + 2), torch.randn(rows + 2)
    reports = compile_and_compare(normalise, x, w, b, dynamic=True)
    assert fallback_ops(reports) == []
    assert [r.kind for r in reports] == ["forward", "backward"]

"""Looped reductions: rows too long, or of a length known only at run time, for one block.

As in Inductor: one `for roffset in range(0, rnumel, RBLOCK)` loop per level of reductions (a
reduction that reads another one's result, like softmax's sum after its max, needs the next loop),
each folding its chunk into an [XBLOCK, RBLOCK] accumulator that is reduced once after the loop
(argmax carries the index beside the value), then a last loop that recomputes and stores the
full-size outputs. Everything else (indices, loads, pointwise code) is KernelWriter's.

`write_kernel` chooses between the two writers, here since this module builds on triton_codegen.
"""

from __future__ import annotations

import contextlib

from minicomp.backends.triton_codegen import KernelSource, KernelWriter, needs_loop
from minicomp.backends.triton_pointwise import compute_type, extreme_literal, rounded
from minicomp.ir import DType, Kernel, Node, Op
from minicomp.ir.ops import REDUCTION
from minicomp.passes.fusion_rules import kernel_signature


class LoopedKernelWriter(KernelWriter):
    """A KernelWriter whose reductions loop over the row in RBLOCK chunks."""

    looped = True

    @contextlib.contextmanager
    def scope(self):
        """Lines and names defined inside (a loop body) are collected apart and forgotten afterwards."""
        outer_lines, outer_memo = self.lines, self.memo
        self.lines, self.memo = [], dict(outer_memo)
        body = self.lines
        try:
            yield body
        finally:
            self.lines, self.memo = outer_lines, outer_memo

    def reduction_levels(self) -> list[list[Node]]:
        """Reductions grouped by how many reductions they read through: each group is one loop."""
        depth: dict[Node, int] = {}
        for node in self.kernel.nodes:
            upstream = max((depth.get(self.producer.get(v), 0) for v in node.inputs), default=0)
            depth[node] = upstream + (1 if node.op in REDUCTION else 0)
        levels: dict[int, list[Node]] = {}
        for node in self.kernel.nodes:
            if node.op in REDUCTION:
                levels.setdefault(depth[node], []).append(node)
        return [levels[level] for level in sorted(levels)]

    def loop(self, fill) -> list[str]:
        """`for roffset ...:` over the row, with the chunk's indices and masks and what `fill` emits."""
        with self.scope() as body:
            self.lines += ["rindex = roffset + rbase", f"rmask = rindex < {self.size(self.signature.reduced)}",
                           "lmask = xmask & rmask"]
            self.lines += self._row_index_lines()
            fill()
        header = f"for roffset in range(0, {self.size(self.signature.reduced)}, RBLOCK):"
        return [header] + ["    " + line for line in body]

    def accumulate(self, node: Node, before: list, after: list) -> None:
        """Fold this chunk into the node's [XBLOCK, RBLOCK] accumulator; `before`/`after` get its
        initialisation and the final reduction over the accumulator."""
        source = node.inputs[0]
        op, dtype = node.op, source.dtype
        accumulator_type = "tl.int32" if dtype is DType.BOOL else compute_type(dtype)
        loaded = self.emit(source, "lindex", "lmask")
        acc = f"acc{self.names}"
        self.names += 1
        block = "[XBLOCK, RBLOCK]"
        if op in (Op.ARGMAX, Op.ARGMIN):
            extreme = extreme_literal(dtype, lowest=op is Op.ARGMAX)
            combine = "tm.argmax_combine" if op is Op.ARGMAX else "tm.argmin_combine"
            before += [f"{acc} = tl.full({block}, {extreme}, {accumulator_type})",
                       f"{acc}_index = tl.full({block}, {2 ** 62}, tl.int64)"]  # loses every tie
            self.lines.append(f"{acc}, {acc}_index = {combine}({acc}, {acc}_index, tl.where(lmask, {loaded}, "
                              f"{extreme}).to({accumulator_type}), tl.broadcast_to(rindex, {block}))")
            after.append((node, f"tl.reduce(({acc}, {acc}_index), 1, {combine})[1][:, None].to(tl.int64)"))
            return
        if op is Op.SUM and dtype is not DType.BOOL:
            identity, update, final = "0", "{0} + {1}", f"tl.sum({acc}, 1)[:, None]"
        elif op is Op.PROD:
            identity, update, final = "1", "{0} * {1}", f"tl.reduce({acc}, 1, tm.product)[:, None]"
        else:
            largest = op is Op.MAX or op is Op.SUM  # a bool sum is "any"
            function = "tm.maximum" if largest else "tm.minimum"
            identity = extreme_literal(dtype, lowest=largest)
            update, final = function + "({0}, {1})", f"tl.reduce({acc}, 1, {function})[:, None]"
        before.append(f"{acc} = tl.full({block}, {identity}, {accumulator_type})")
        chunk = f"tl.where(lmask, {loaded}, {identity}).to({accumulator_type})"
        self.lines.append(f"{acc} = " + update.format(acc, chunk))
        after.append((node, final))

    def body(self, prologue: list[str] | None) -> list[str]:
        """A loop per reduction level, then a loop storing the full-size outputs, then the row outputs."""
        self.lines = [
            "xindex = (tl.program_id(0) * XBLOCK + tl.arange(0, XBLOCK)[:, None]).to(tl.int64)",
            "rbase = tl.arange(0, RBLOCK)[None, :].to(tl.int64)",
            f"xmask = xindex < {self.size(self.signature.outer)}",
        ]
        for level in self.reduction_levels():
            before: list = []
            after: list = []
            body = self.loop(lambda: [self.accumulate(node, before, after) for node in level])
            self.lines += before + body
            for node, final in after:
                self.memo[("own", node.output)] = self.define(rounded(node, final), "r")
        outputs = list(enumerate(self.kernel.outputs))
        full = {i for i, v in outputs if self.position(v)[0] == "lindex"}
        if full:
            self.lines += self.loop(lambda: self.lines.extend(self.store(i, v) for i, v in outputs if i in full))
        self.lines += [self.store(i, v) for i, v in outputs if i not in full]
        return self.lines


def write_kernel(kernel: Kernel, name: str) -> KernelSource:
    """Triton source for `kernel` under the function name `name`: looped when its rows need it (needs_loop)."""
    signature = kernel_signature(kernel)
    looped = signature is not None and needs_loop(signature.reduced)
    return (LoopedKernelWriter if looped else KernelWriter)(kernel).write(name)

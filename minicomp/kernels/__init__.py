"""The loop-level form of fused kernels, shared by the compiled code generators."""

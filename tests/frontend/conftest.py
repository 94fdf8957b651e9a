"""Fixtures for the lowering tests."""

import pytest

import minicomp.compiler


@pytest.fixture
def lowered(monkeypatch):
    """The ATen ops (as strings) of every graph handed to minicomp's lowering in this test."""
    seen: list[str] = []
    original = minicomp.compiler.lower_fx

    def recording(gm, *args, **kwargs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return original(gm, *args, **kwargs)

    monkeypatch.setattr(minicomp.compiler, "lower_fx", recording)
    return seen

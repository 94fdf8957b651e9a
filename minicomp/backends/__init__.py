"""Backends: code for every Op; numpy is the reference."""

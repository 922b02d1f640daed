"""Bit-exact NumPy models of the IS-OS dataflow."""

"""Test doubles for the printer layer: an ESC/POS stream parser and fake printers.

They speak real bytes over real sockets and pseudo-terminals, so tests, the
lead's benchmarks and plugin tests exercise the whole printing path without a
device.
"""

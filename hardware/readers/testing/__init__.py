"""Test doubles for the readers layer: a virtual smart card served to pcscd's vpcd
driver, a pcscd launcher, and raw keyboard input_event records as a wedge scanner
sends them. Everything here produces real bytes for the real backends to read.
"""

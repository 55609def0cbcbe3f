"""Benchmarks: `make bench` runs them all and prints figures. Not tests: nothing here asserts
on time."""

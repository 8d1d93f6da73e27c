"""Accuracy evaluation and benchmarks. Never run by the tests."""

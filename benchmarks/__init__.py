"""Benchmarks: measured against peers in the same run; never timed in tests."""

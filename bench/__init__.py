"""Benchmarks: scripts that set up their own data, run a fixed workload and print one JSON object."""

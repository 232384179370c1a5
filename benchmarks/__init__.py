"""The benchmark runner (host and device), its statistics, and the project's benchmark suites."""

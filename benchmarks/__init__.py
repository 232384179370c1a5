"""The benchmark harness that ships: the on-device runner (runner.py: Python, numpy and a TFLite runtime
only), the harness that drives it over a transport, output parsers and the result table. It never imports
the suites (`benchmarks.suites`), which may import anything.
"""

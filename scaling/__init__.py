"""scalezoo's scaling analysis: laws, fits with intervals, compute-optimal allocation, double descent, plots.

Works on any table of runs or arrays; never imports `train` or `zoo`.
"""

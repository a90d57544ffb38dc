"""Reporting: charts (``plots``) of engine result tables for notebooks and reports.

Submodules are imported explicitly (``from sigmasight_lib.reporting.plots import
plot_exposures``); importing this package loads neither matplotlib nor any
engine.
"""

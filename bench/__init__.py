"""Benchmarks for the two things users feel: the contract room and live events.

Run ``python -m bench`` (``make bench``); ``python -m bench --help`` lists the options.
Every figure is printed next to its baselines, measured in the same run on the same machine.
"""

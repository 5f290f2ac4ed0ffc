"""Benchmarks for the hub against bare aiohttp and websockets echo servers.

Nothing here is imported by the hub or by the tests. ``python -m bench.run_all``
runs everything; each module is also a command of its own (see README.md).
"""

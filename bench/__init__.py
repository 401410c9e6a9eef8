"""Load benchmark of the avatar service: `python -m bench` (see docs/benchmarks.md).

The service, the same service without batching and a LitServe peer are each started as a
subprocess on a free loopback port and driven by one async HTTP load generator; the generator
alone and the generator plus PNG encoding are measured without HTTP as ceilings.
"""

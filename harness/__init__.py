"""Sluis and its engines as real processes on 127.0.0.1, for the tests, the load tests
and the benchmarks (a tool package beside them, not part of the installed Sluis):

- `harness.processes`: start a process with a log, wait until it answers, stop it;
- `harness.sluis`: the environment a Sluis process gets, `sluis gateway` and `sluis worker`;
- `harness.engines`: redis-server as a Cluster or with Sentinel, HAProxy in front of gateways;
- `harness.cpu`: which CPUs a process may use, and the CPU time it used.
"""

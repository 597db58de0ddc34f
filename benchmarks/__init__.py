"""Benchmarks of fourier_interp against naive reference implementations (issue 6).

Run everything with ``python -m benchmarks`` (``--quick`` for a smoke test, ``--only NAME``
for one benchmark, ``--list`` for the names). See ``docs/performance.md``.

Layout:
    reference.py       naive PyTorch models of the same maths, built from our models' weights
    common.py          interleaved timing, result tables, machine info, model loading
    bench_training.py  train_step, time_to_grok, seeds
    bench_analysis.py  cache, verify
    bench_system.py    startup, memory (fresh subprocesses)
    memory_case.py     one memory case, run in its own process by bench_system
    run.py             the command line

This package is never collected by pytest (no ``test_`` files; ``testpaths = tests``), and
importing it imports nothing heavy, so subprocess timings start clean.
"""

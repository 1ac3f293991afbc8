"""Performance benchmarks of vlpet (issue 7): PET vs full fine-tuning, module overhead, study orchestration,
scaling. Not part of the test run; ``python -m benchmarks.run --help`` and BENCHMARKS.md say how to run them.

Each benchmark is one module with ``run(settings) -> {"figures": ..., "targets": [...]}``; heavy measurements
run in fresh child processes (:func:`benchmarks.common.in_child`) so that memory peaks and allocator state never
mix between variants.
"""

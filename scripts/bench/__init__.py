"""The benchmarks' shared code: the pipeline stack and its parts, and common helpers.

Entry points stay in ``scripts/bench_*.py``; run them with the project's venv."""

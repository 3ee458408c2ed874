"""Benchmarks and fault drills (BENCHMARKS.md). Each script is runnable on its own and has main(argv) -> dict."""

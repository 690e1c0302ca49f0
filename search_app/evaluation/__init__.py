"""Evaluation: IR metrics on BEIR-shaped dicts (:mod:`.metrics`), scoring retrievers on a BEIR folder
(:mod:`.runner`) and finding the benchmark folders (:mod:`.benchmarks`)."""

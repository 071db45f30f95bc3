"""Harnesses that prove the product: seeded fault injection, the auditor, the benchmark."""

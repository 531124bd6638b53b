"""Benchmarks run by `ct bench …`: the product's own code side by side with a named peer."""

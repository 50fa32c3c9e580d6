//! The probes live in `examples/`; see docs/experiments.md for what each found.

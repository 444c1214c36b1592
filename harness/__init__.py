"""The harness: the ``grpo`` command line, and (lazily imported) TRL GRPOTrainer wiring."""

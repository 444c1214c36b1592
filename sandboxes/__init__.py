"""Code-execution backends for code rewards; backends register through ``register_sandbox_backends``."""

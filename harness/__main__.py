"""``python -m harness ...`` is the ``grpo`` command (used by ``accelerate launch -m harness``)."""

from harness.cli import main

if __name__ == "__main__":
    main()

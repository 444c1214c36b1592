"""``python -m harness.cli`` runs the ``grpo`` command."""

from harness.cli import main

main()

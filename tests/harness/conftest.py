"""Harness tests never reach the hub: models are built from configs, tokenizers trained locally."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

"""The `dl4j-bridge` command (train, export, predict, serve, doctor, setup, ui): argparse over the public API."""

from .main import main

__all__ = ["main"]

"""Data files shipped with dl4j-bridge (README.md here: provenance and licenses)."""

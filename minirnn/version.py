"""The version of minirnn (one place; written into saved files)."""
__version__ = "0.1.0"

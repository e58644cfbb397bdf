"""Hardware-in-the-loop test and evaluation service for on-device learning."""

__version__ = "0.1.0"

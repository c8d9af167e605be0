"""genolake: a local-first genomics data lake. `import genolake` is the whole public API."""

__version__ = "0.1.0"

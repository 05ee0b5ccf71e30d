"""The Jupyter Server extension: REST routes over ``core.api``, jobs run off the event loop."""

"""Feature sets, models and registry (see DESIGN.md)."""

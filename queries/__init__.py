"""Query engines and analyses over the curated tables (see DESIGN.md)."""

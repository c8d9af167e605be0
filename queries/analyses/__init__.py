"""Named analyses, each written once over the table contract (DuckDB dialect, transpiled per engine)."""

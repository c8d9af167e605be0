"""ETL engines that turn a validated source file into curated table files."""

"""ETL: sources (VCF, ClinVar, panel), engines and the ingest pipeline. Imports lake only."""

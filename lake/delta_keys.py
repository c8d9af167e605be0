"""The commitInfo keys genolake writes into each Delta commit (no imports: `genolake --help` reads
lake/store.py without loading deltalake)."""

RUN_KEY = "genolake.run_id"
INGEST_KEY = "genolake.ingest_key"
CHECKSUM_KEY = "genolake.source_sha256"
ROLLBACK_KEY = "genolake.rolled_back_run"

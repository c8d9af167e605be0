"""The athena engine and `genolake catalog register --target glue`, against moto on 127.0.0.1 and
botocore's Stubber (AWS itself cannot be reached: what only AWS can prove is in the README).

- Glue: the tables registered from our catalog (columns, types, partition keys, partitions, locations,
  the Delta version and snapshot parameters), for the delta and parquet formats, and the CLI.
- Athena: the exact StartQueryExecution requests, result paging and decoding into Arrow (moto's
  seeded results; a Stubber for NextToken pages), FAILED/CANCELLED states, read-only refusals.
- The loopback: every analysis's Athena SQL, run back on DuckDB, equals DuckDB's answer."""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest

pytest.importorskip("pyathena")
pytest.importorskip("moto")

import boto3  # noqa: E402
import pyathena  # noqa: E402
from botocore.stub import Stubber  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import genolake  # noqa: E402
from athena_loopback import loopback_engine  # noqa: E402
from genolake.glue_cli import add_register_parser, cmd_catalog_register  # noqa: E402
from genolake.lake.errors import ConfigError, QueryError  # noqa: E402
from genolake.lake.glue_catalog import register_glue  # noqa: E402
from genolake.lake.schemas import ALL_TABLES  # noqa: E402
from genolake.queries import sql as qsql  # noqa: E402
from genolake.queries.engines import connect  # noqa: E402
from genolake.queries.engines.athena_engine import AthenaEngine, render  # noqa: E402

REGION = "us-east-1"
BUCKET = "genolake-test"
OUTPUT = "s3://genolake-results/athena/"
MIXED = Path(__file__).resolve().parents[2] / "shared" / "data" / "vcf" / "mixed_ploidy.vcf.gz"


@pytest.fixture(scope="module")
def moto_url():
    with pytest.MonkeyPatch.context() as mp:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                           "AWS_ENDPOINT_URL": url}.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(key, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/dev/null")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="genolake-results")
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    """Two datasets (a simulated cohort with its panel, mixed ploidy) and the simulated ClinVar."""
    tmp = tmp_path_factory.mktemp("athena")
    sim = genolake.simulate(tmp / "sim", n_samples=20, length_bp=100_000, seed=11, progress=False)
    lake = genolake.init_lake(tmp / "lake")
    genolake.ingest_vcf(lake, sim.vcf, "sim", panel=sim.panel, workers=1)
    genolake.ingest_vcf(lake, MIXED, "mp", workers=1)
    genolake.ingest_clinvar(lake, sim.clinvar)
    return lake


@pytest.fixture(scope="module")
def registered(moto_url, small_lake):
    """The lake registered twice: as Delta tables (gl_delta) and as Parquet tables (gl_parquet)."""
    glue = boto3.client("glue", region_name=REGION)
    delta = register_glue(small_lake.catalog, database="gl_delta", location=f"s3://{BUCKET}/lake/curated")
    parquet = register_glue(small_lake.catalog, database="gl_parquet", location=f"s3://{BUCKET}/lake/curated/",
                            table_format="parquet", client=glue)
    return {"delta": delta, "parquet": parquet, "glue": glue}


def _versions(lake) -> dict[str, int]:
    published = getattr(lake.catalog, "published", None)
    return dict(published(None).versions) if published else lake.catalog.snapshot()


def _partitions(glue, database, table) -> list[dict]:
    out, token = [], None
    while True:
        page = glue.get_partitions(DatabaseName=database, TableName=table, **({"NextToken": token} if token else {}))
        out += page["Partitions"]
        token = page.get("NextToken")
        if not token:
            return out


# ------------------------------------------------------------------------------------------ Glue


def test_delta_tables_in_glue(registered, small_lake):
    glue, versions = registered["glue"], _versions(small_lake)
    assert sorted(registered["delta"]) == sorted(versions)
    assert glue.get_database(Name="gl_delta")["Database"]["Name"] == "gl_delta"
    for name in registered["delta"]:
        t = glue.get_table(DatabaseName="gl_delta", Name=name)["Table"]
        p = t["Parameters"]
        assert p["table_type"] == "DELTA"
        assert p["genolake.delta_version"] == str(versions[name])
        assert t["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/lake/curated/{name}/"
        assert not t.get("PartitionKeys")  # Athena takes the partitions from the Delta log
        cols = [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]]
        assert [c for c, _ in cols] == [f.name for f in ALL_TABLES[name].schema]
    v = glue.get_table(DatabaseName="gl_delta", Name="variants")["Table"]
    types = {c["Name"]: c["Type"] for c in v["StorageDescriptor"]["Columns"]}
    assert types["pos"] == "int" and types["allele_ord"] == "smallint" and types["qual"] == "float"
    assert types["af"] == "double" and types["cpra"] == "string"
    g = glue.get_table(DatabaseName="gl_delta", Name="genotypes")["Table"]
    gtypes = {c["Name"]: c["Type"] for c in g["StorageDescriptor"]["Columns"]}
    assert gtypes["alt_dosage"] == "tinyint" and gtypes["phased"] == "boolean"


def test_parquet_tables_and_partitions_in_glue(registered, small_lake):
    glue, versions = registered["glue"], _versions(small_lake)
    for name in registered["parquet"]:
        spec = ALL_TABLES[name]
        t = glue.get_table(DatabaseName="gl_parquet", Name=name)["Table"]
        sd = t["StorageDescriptor"]
        assert t["Parameters"]["genolake.delta_version"] == str(versions[name])
        assert "table_type" not in t["Parameters"]
        assert sd["Location"] == f"s3://{BUCKET}/lake/curated/{name}/"
        assert sd["InputFormat"].endswith("MapredParquetInputFormat")
        assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
        assert [c["Name"] for c in sd["Columns"]] == spec.data_columns
        assert [k["Name"] for k in t.get("PartitionKeys", [])] == list(spec.partition_by)
    keys = {k["Name"]: k["Type"] for k in glue.get_table(DatabaseName="gl_parquet",
                                                        Name="cpra_index")["Table"]["PartitionKeys"]}
    assert keys == {"contig": "string", "pos_bin": "int"}
    # one Glue partition per partition value set of the published version, at its folder
    from genolake.lake.delta_io import open_table, table_files

    for name in ("variants", "cpra_index", "genotypes"):
        root = small_lake.table_root(name)
        files = table_files(open_table(root, versions[name]), root)
        want = {tuple(f.partition_values[c] for c in ALL_TABLES[name].partition_by) for f in files}
        got = _partitions(glue, "gl_parquet", name)
        assert {tuple(p["Values"]) for p in got} == want
        for p in got:
            loc = p["StorageDescriptor"]["Location"]
            assert loc.startswith(f"s3://{BUCKET}/lake/curated/{name}/") and loc.endswith("/")
            folder = loc[len(f"s3://{BUCKET}/lake/curated/{name}/"):].rstrip("/")
            assert (root / folder).is_dir()
    # registering again updates in place, same partitions
    register_glue(small_lake.catalog, database="gl_parquet", location=f"s3://{BUCKET}/lake/curated",
                  table_format="parquet")
    assert len(_partitions(glue, "gl_parquet", "genotypes")) == len(
        {tuple(f.partition_values.values()) for f in table_files(open_table(small_lake.table_root("genotypes")),
                                                                 small_lake.table_root("genotypes"))})


@pytest.mark.parametrize("database,location,needle", [
    ("Bad-Name", f"s3://{BUCKET}/x", "database name"),
    ("db; drop", f"s3://{BUCKET}/x", "database name"),
    ("gl_cli", "/tmp/lake/curated", "s3://BUCKET/PREFIX"),
    ("gl_cli", "https://example.com/x", "s3://BUCKET/PREFIX"),
    ("gl_cli", "s3://b'ad/x", "s3://BUCKET/PREFIX"),
])
def test_register_refuses_bad_names_and_locations(moto_url, small_lake, database, location, needle):
    args = argparse.Namespace(root=str(small_lake.root), target="glue", database=database, location=location,
                              region=REGION, table_format="delta", as_of=None)
    with pytest.raises(ConfigError) as info:
        cmd_catalog_register(args)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_register_cli(moto_url, small_lake, capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--root")
    parser.add_argument("action", choices=["list", "register"])
    parser.add_argument("--database", default="genolake")  # the catalog parser already has it (ddl)
    add_register_parser(parser)
    args = parser.parse_args(["--root", str(small_lake.root), "register", "--target", "glue", "--database",
                              "gl_cli", "--location", f"s3://{BUCKET}/cli", "--table-format", "parquet"])
    names = cmd_catalog_register(args)
    assert "registered in Glue database gl_cli" in capsys.readouterr().out
    glue = boto3.client("glue", region_name=REGION)
    assert sorted(t["Name"] for t in glue.get_tables(DatabaseName="gl_cli")["TableList"]) == sorted(names)


def test_aws_errors_are_one_line(moto_url, small_lake):
    from genolake.lake.glue_catalog import GlueError

    glue = boto3.client("glue", region_name=REGION)
    with Stubber(glue) as stub:
        stub.add_client_error("get_database", "AccessDeniedException",
                              "User: arn:aws:iam::1:user/x is not authorized to perform: glue:GetDatabase")
        with pytest.raises(GlueError) as info:
            register_glue(small_lake.catalog, database="gl_x", location=f"s3://{BUCKET}/x", client=glue)
    msg = str(info.value)
    assert "AccessDeniedException" in msg and "not authorized" in msg and "\n" not in msg


# ---------------------------------------------------------------------------------------- Athena


def _engine(small_lake, database="gl_delta", **kw) -> AthenaEngine:
    return connect(small_lake, "athena", database=database, workgroup="primary", output_location=OUTPUT,
                   region=REGION, poll_interval=0.01, **kw)


def test_bindings_and_snapshot_from_glue(registered, small_lake):
    versions = _versions(small_lake)
    for db in ("gl_delta", "gl_parquet"):
        engine = _engine(small_lake, db)
        assert engine.name == "athena" and engine.dialect == "athena"
        assert engine.snapshot().versions == versions
        assert {n: b.version for n, b in engine.bindings().items()} == versions
        assert engine.pos_bin_size == small_lake.config.pos_bin_size
        assert engine.dataset_assemblies() == small_lake.catalog.dataset_assemblies()
        assert {p["contig"] for p in engine.bindings()["variants"].partitions} == set(
            small_lake.read("variants", columns=["contig"])["contig"].to_pylist())


def test_as_of_and_missing_database_are_config_errors(registered, small_lake):
    with pytest.raises(ConfigError, match="--as-of 0"):
        connect(small_lake, "athena", as_of=0, region=REGION)
    with pytest.raises(ConfigError, match="catalog register --target glue"):
        _engine(small_lake, "gl_nowhere")


def _seed(url: str, results: list[dict]) -> None:
    req = urllib.request.Request(f"{url}/moto-api/static/athena/query-results", method="POST",
                                 data=json.dumps({"region": REGION, "results": results}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 201


def _col(name, type_, precision=0, scale=0):
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": type_,
            "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN", "CaseSensitive": False}


COLUMNS = [_col("s", "varchar", 2147483647), _col("i", "integer", 10), _col("b", "bigint", 19),
           _col("sm", "smallint", 5), _col("t", "tinyint", 3), _col("ok", "boolean"), _col("d", "double", 17),
           _col("r", "real", 7), _col("dec", "decimal", 10, 2), _col("day", "date"), _col("ts", "timestamp", 3),
           _col("arr", "array")]


def _row(i: int) -> dict:
    vals = [f"s{i}", str(i), str(i * 10_000_000_000), str(i % 30000), str(i % 100), "true" if i % 2 else "false",
            f"{i / 3!r}", "1.5", f"{i}.25", "2024-01-02", "2024-01-02 03:04:05.678", f"[{i}, {i + 1}]"]
    if i % 7 == 0:  # nulls: Athena leaves VarCharValue out
        return {"Data": [{"VarCharValue": vals[0]}] + [{} for _ in vals[1:]]}
    return {"Data": [{"VarCharValue": v} for v in vals]}


def test_results_decode_into_arrow(registered, small_lake, moto_url):
    n = 2_500
    header = {"Data": [{"VarCharValue": c["Name"]} for c in COLUMNS]}
    _seed(moto_url, [{"rows": [header] + [_row(i) for i in range(n)], "column_info": COLUMNS}])
    engine = _engine(small_lake)
    table = engine.sql("SELECT * FROM variants")
    assert table.num_rows == n
    assert table.schema.types == [pa.string(), pa.int32(), pa.int64(), pa.int16(), pa.int8(), pa.bool_(),
                                  pa.float64(), pa.float32(), pa.decimal128(10, 2), pa.date32(),
                                  pa.timestamp("ms"), pa.list_(pa.int64())]
    row = table.slice(1, 1).to_pylist()[0]
    assert row == {"s": "s1", "i": 1, "b": 10_000_000_000, "sm": 1, "t": 1, "ok": True, "d": 1 / 3, "r": 1.5,
                   "dec": decimal.Decimal("1.25"), "day": dt.date(2024, 1, 2),
                   "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 678000), "arr": [1, 2]}
    assert table.slice(7, 1).to_pylist()[0] == {"s": "s7", **{c["Name"]: None for c in COLUMNS[1:]}}
    assert table["s"].to_pylist()[-1] == f"s{n - 1}" and table["i"].to_pylist()[-2] == n - 2


def test_requests_recorded_by_moto(registered, small_lake):
    engine = _engine(small_lake)
    text = "SELECT dataset, COUNT(*) AS n FROM variants GROUP BY dataset"
    engine.sql(text)
    athena = boto3.client("athena", region_name=REGION)
    ids = athena.list_query_executions()["QueryExecutionIds"]
    execs = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    mine = [e for e in execs if e["Query"] == text]
    assert mine, [e["Query"] for e in execs]
    e = mine[-1]
    assert e["QueryExecutionContext"]["Database"] == "gl_delta"
    assert e["WorkGroup"] == "primary"
    assert e["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)


def _stubbed(small_lake, **kw):
    """An engine whose Athena client is stubbed (Glue stays on moto)."""
    conn = pyathena.connect(schema_name="gl_delta", work_group="genolake_wg", s3_staging_dir=OUTPUT,
                            region_name=REGION, poll_interval=0.01)
    engine = AthenaEngine(small_lake, database="gl_delta", workgroup="genolake_wg", output_location=OUTPUT,
                          connection=conn, **kw)
    return engine, Stubber(conn.client)


def _succeeded(qid, query="SELECT 1"):
    return {"QueryExecution": {"QueryExecutionId": qid, "Query": query, "Status": {"State": "SUCCEEDED"},
                               "ResultConfiguration": {"OutputLocation": OUTPUT + qid + ".csv"},
                               "StatementType": "DML"}}


def test_start_query_execution_request_is_the_analysis_sql(registered, small_lake):
    # an analysis's query (DuckDB's dialect, as analyses write it) and the text Athena gets
    from genolake.queries.analyses.frequencies import contig_order

    duck_sql = (f"SELECT contig, pos, CAST(ac AS BIGINT) AS ac FROM variants WHERE contig = '22' AND "
                f"pos BETWEEN 1 AND 60000 ORDER BY {contig_order()}, pos")
    want = render(duck_sql)
    assert "TRY_CAST(contig AS INTEGER)" in want
    engine, stub = _stubbed(small_lake)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, {
        "QueryString": want, "QueryExecutionContext": {"Catalog": "awsdatacatalog", "Database": "gl_delta"},
        "WorkGroup": "genolake_wg",
        "ResultConfiguration": {"OutputLocation": OUTPUT}})
    stub.add_response("get_query_execution", _succeeded("q-1"), {"QueryExecutionId": "q-1"})
    meta = {"ColumnInfo": [_col("contig", "varchar"), _col("pos", "integer"), _col("ac", "bigint")]}
    stub.add_response("get_query_results", {"ResultSet": {"Rows": [
        {"Data": [{"VarCharValue": "contig"}, {"VarCharValue": "pos"}, {"VarCharValue": "ac"}]},
        {"Data": [{"VarCharValue": "22"}, {"VarCharValue": "224"}, {"VarCharValue": "3"}]}],
        "ResultSetMetadata": meta}}, {"QueryExecutionId": "q-1", "MaxResults": 1000})
    with stub:
        out = qsql.run(engine, duck_sql)
        stub.assert_no_pending_responses()
    assert out.to_pylist() == [{"contig": "22", "pos": 224, "ac": 3}]


def test_paging_beyond_1000_rows(registered, small_lake):
    engine, stub = _stubbed(small_lake)
    meta = {"ColumnInfo": [_col("k", "bigint"), _col("v", "varchar")]}
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
    stub.add_response("get_query_execution", _succeeded("q-2"))
    pages = [range(0, 1000), range(1000, 2000), range(2000, 2500)]
    for i, page in enumerate(pages):
        rows = [{"Data": [{"VarCharValue": "k"}, {"VarCharValue": "v"}]}] if i == 0 else []
        rows += [{"Data": [{"VarCharValue": str(k)}, {"VarCharValue": f"v{k}"}]} for k in page]
        resp = {"ResultSet": {"Rows": rows, "ResultSetMetadata": meta}}
        if i < len(pages) - 1:
            resp["NextToken"] = f"t{i + 1}"
        expected = {"QueryExecutionId": "q-2", "MaxResults": 1000, **({"NextToken": f"t{i}"} if i else {})}
        stub.add_response("get_query_results", resp, expected)
    with stub:
        out = engine.sql("SELECT k, v FROM variants")
        stub.assert_no_pending_responses()
    assert out.schema.types == [pa.int64(), pa.string()]
    assert out["k"].to_pylist() == list(range(2500)) and out["v"][2499].as_py() == "v2499"


@pytest.mark.parametrize("state,prefix", [("FAILED", "athena query failed: "),
                                          ("CANCELLED", "athena query cancelled: ")])
def test_failed_and_cancelled_queries(registered, small_lake, state, prefix):
    engine, stub = _stubbed(small_lake)
    reason = "SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved\nmore detail"
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-3"})
    stub.add_response("get_query_execution", {"QueryExecution": {
        "QueryExecutionId": "q-3", "Query": "SELECT nope FROM variants", "Status": {"State": state, "StateChangeReason": reason}}})
    with stub, pytest.raises(QueryError) as info:
        engine.sql("SELECT nope FROM variants")
    msg = str(info.value)
    assert msg.startswith(prefix) and "Column 'nope' cannot be resolved" in msg and "\n" not in msg


REFUSED = [
    "INSERT INTO variants SELECT * FROM variants",
    "UPDATE variants SET ac = 1",
    "DELETE FROM variants",
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t AS SELECT * FROM variants",
    "CREATE VIEW v AS SELECT 1",
    "CREATE EXTERNAL TABLE x (a INT) LOCATION 's3://b/'",
    "DROP TABLE variants",
    "ALTER TABLE variants ADD COLUMNS (x INT)",
    "MERGE INTO variants v USING samples s ON v.dataset = s.dataset WHEN MATCHED THEN DELETE",
    "SET SESSION query_max_run_time = '1m'",
    "UNLOAD (SELECT * FROM variants) TO 's3://b/x' WITH (format = 'PARQUET')",
    "MSCK REPAIR TABLE variants",
    "VACUUM variants",
    "OPTIMIZE variants REWRITE DATA USING BIN_PACK",
    "SELECT 1; DROP TABLE variants",
]


def test_read_only_refusals_send_nothing(registered, small_lake):
    engine = _engine(small_lake)
    sent = []
    engine._conn.client.meta.events.register("before-call.athena.StartQueryExecution",
                                             lambda **kw: sent.append(kw))
    for query in REFUSED:
        with pytest.raises(QueryError) as info:
            engine.sql(query)
        assert str(info.value).startswith("refused:"), (query, str(info.value))
    assert sent == []
    engine.sql("SELECT 1 AS x")  # the hook does see a query that is sent
    assert len(sent) == 1


def test_missing_library_is_one_config_error(small_lake, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyathena", None)  # import pyathena -> ImportError
    with pytest.raises(ConfigError) as info:
        connect(small_lake, "athena", region=REGION)
    assert str(info.value) == "the athena engine needs: pip install 'genolake[athena]'"


# -------------------------------------------------------------------------------------- loopback


def _cases(duck):
    v = duck.sql("SELECT rsid, cpra FROM variants WHERE dataset = 'sim' AND rsid IS NOT NULL ORDER BY pos "
                 "LIMIT 3").to_pylist()
    gene = duck.sql("SELECT gene_symbol FROM clinvar GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").to_pylist()[0]
    sample = duck.sql("SELECT sample_id FROM samples WHERE dataset = 'sim' ORDER BY 1 LIMIT 1").to_pylist()[0]
    gene, sample = gene["gene_symbol"], sample["sample_id"]
    return {
        "allele_frequency/rsids": lambda e: genolake.allele_frequency(e, rsids=[v[0]["rsid"], v[1]["rsid"]]),
        "allele_frequency/cpras+cohort": lambda e: genolake.allele_frequency(e, cpras=[v[2]["cpra"]],
                                                                             cohort="super_pop=EUR"),
        "allele_frequency/region": lambda e: genolake.allele_frequency(e, region="22:1-60000"),
        "allele_frequency/dataset": lambda e: genolake.allele_frequency(e, dataset="mp"),
        "population_frequencies/region": lambda e: genolake.population_frequencies(e, region="22:1-100000",
                                                                                   by="super_population"),
        "population_frequencies/gene": lambda e: genolake.population_frequencies(e, gene=gene, by="population"),
        "carriers": lambda e: genolake.carriers(e, v[0]["cpra"]),
        "carriers/missing+cohort": lambda e: genolake.carriers(e, v[1]["cpra"], include_missing=True,
                                                               cohort="super_pop=AFR"),
        "sample_variants": lambda e: genolake.sample_variants(e, sample),
        "sample_variants/region": lambda e: genolake.sample_variants(e, sample, region="22:1-50000"),
        "annotate/region": lambda e: genolake.annotate(e, region="22:1-100000"),
        "annotate/gene": lambda e: genolake.annotate(e, gene=gene),
        "drug_response_report": lambda e: genolake.drug_response_report(e),
        "drug_response_report/cohort": lambda e: genolake.drug_response_report(e, cohort="super_pop=EUR", top=5),
        "sql": lambda e: genolake.sql(e, "SELECT dataset, count(*) AS n, sum(ac) AS s FROM variants "
                                         "GROUP BY dataset ORDER BY dataset"),
    }


def test_loopback_answers_equal_duckdb(small_lake):
    from genolake.queries.provenance import read_provenance

    duck, ath = connect(small_lake), loopback_engine(small_lake)
    try:
        for name, run in _cases(duck).items():
            a, b = run(duck), run(ath)
            assert b.num_rows == a.num_rows, name
            assert b.replace_schema_metadata(None).equals(a.replace_schema_metadata(None)), name
            pa_, pb = read_provenance(a), read_provenance(b)
            assert pb["engine"] == "athena" and {k: v for k, v in pb.items() if k != "engine"} == \
                {k: v for k, v in pa_.items() if k != "engine"}, name
        assert ath.sent, "the loopback sent no SQL"
        import sqlglot

        for text in ath.sent:  # every statement is Athena (Trino) SQL sqlglot reads without fallbacks
            for stmt in sqlglot.parse(text, read="athena"):
                assert not list(stmt.find_all(sqlglot.exp.Anonymous)), text
    finally:
        duck.close()
        ath.close()


def test_register_as_of_an_earlier_snapshot(moto_url, small_lake):
    published = getattr(small_lake.catalog, "published", None)
    if published is None:
        pytest.skip("the catalog records no snapshot history")
    now = published(None)
    first = small_lake.catalog.history()[-1].number  # the oldest published snapshot
    then = published(first)
    register_glue(small_lake.catalog, database="gl_asof", location=f"s3://{BUCKET}/asof", as_of=first)
    engine = _engine(small_lake, "gl_asof")
    assert engine.snapshot().number == then.number and engine.snapshot().versions == dict(then.versions)
    assert then.number != now.number

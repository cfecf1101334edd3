"""Commands that look at data: validate, diff, query, schema infer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from dvtool import printable
from dvtool.errors import UsageError

if TYPE_CHECKING:
    from dvtool import ReadOptions
from dvtool.cli.context import (
    State,
    check_output_early,
    engine_kwargs,
    engine_options,
    pass_state,
    read_options,
    repo_or_none,
    wants_spark,
    write_output,
)


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="REF|SOURCE...")
@click.option(
    "--schema",
    "schema",
    required=True,
    metavar="FILE",
    help="pandera schema: a YAML/JSON file (pandas or polars), or file.py:NAME.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "markdown", "github", "html"]),
    default="text",
    show_default=True,
    help="Report format (html: one self-contained page with a chart of failures).",
)
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (default: stdout).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists (never a link or a device).")
@click.option("--strict", is_flag=True, help="Warnings (checks with raise_warning) fail too.")
@click.option(
    "--no-cache", is_flag=True, help="Re-check every chunk instead of reusing remembered verdicts."
)
@read_options
@engine_options
@pass_state
def validate(
    state: State,
    targets: tuple[str, ...],
    schema: str,
    fmt: str,
    output: str | None,
    force: bool,
    strict: bool,
    no_cache: bool,
    read: ReadOptions | None,
    engine: str | None,
    spark_master: str | None,
    spark_conf: tuple[str, ...],
) -> None:
    """Validate a snapshot or files against a pandera schema.

    Exit 0 passed, 1 the data failed, 2 could not run. Several SOURCE files are read one after another and checked as one dataset
    (as by snapshot), which is how the pre-commit hook passes the files of a commit.

    \b
    Example:
      dvtool validate orders@v2 --schema orders.schema.yaml
      dvtool validate orders --schema orders.schema.yaml --format junit -o report.xml
      dvtool validate new.csv --schema schemas.py:Orders --format github
      dvtool validate data/orders-*.csv --schema orders.schema.yaml
      dvtool validate orders --schema orders.schema.yaml --format html -o validation.html
      dvtool validate orders --schema orders.schema.yaml --engine spark --spark-master local[4]
    """
    check_output_early(output, force)
    target: Any = targets[0] if len(targets) == 1 else list(targets)
    engine_args = engine_kwargs(engine, spark_master, spark_conf)
    repo = repo_or_none(state, targets[0])
    if repo is None and wants_spark(engine):
        raise UsageError(
            "--engine spark validates snapshots (REFs) of a repository; none was found here"
        )
    if repo is not None and len(targets) > 1:
        refs = [t for t in targets if repo.is_ref(t)]
        if refs:
            raise UsageError(
                f"validate takes one REF, or SOURCE files only; {refs[0]!r} is a REF here "
                f"(validate it on its own, or write ./{refs[0]} for a file of that name)"
            )
    if repo is not None:
        from dvtool.cli.progress import Progress

        with Progress("validate", "rows", enabled=not state.quiet) as bar:
            report = repo.validate(
                target,
                schema=schema,
                read=read,
                use_cache=not no_cache,
                progress=bar.advance,
                **engine_args,
            )
    else:
        from dvtool import validate_source

        report = validate_source(
            target, schema=schema, storage_options=state.storage_options, read=read
        )
    write_output(report.render(fmt, strict=strict), output, force=force)
    if output is not None and not state.quiet:
        click.echo(printable(report.render("text", strict=strict).splitlines()[0]), err=True)
    code = report.exit_code(strict=strict)
    if code:
        raise click.exceptions.Exit(code)


@click.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="[NEW]", required=False)
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="COL",
    help="Match rows by COL (repeatable; default: the key recorded at snapshot).",
)
@click.option("--no-key", is_flag=True, help="Compare whole rows as a multiset, ignoring any key.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "junit", "github", "html"]),
    default="text",
    show_default=True,
    help="Report format: markdown fits a pull-request comment; html is one self-contained "
    "page with charts; junit and github report --policy and --schema checks.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Sample rows shown per kind (added, removed, changed).",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs, 0 when identical.")
@click.option(
    "--stats",
    is_flag=True,
    help="Add distribution statistics per column (quantiles, mean, std, null rate, top "
    "values; computed once per chunk and cached) and manifest null/min/max changes.",
)
@click.option(
    "--abs-tol",
    type=float,
    default=0.0,
    show_default=True,
    metavar="X",
    help="Numeric values that differ by at most X count as equal (within tolerance).",
)
@click.option(
    "--rel-tol",
    type=float,
    default=0.0,
    show_default=True,
    metavar="X",
    help="... or by at most X times the new value's magnitude.",
)
@click.option(
    "--tol",
    "tols",
    multiple=True,
    metavar="COL=abs:X|rel:X",
    help="Tolerance for one column (repeatable), overriding --abs-tol/--rel-tol.",
)
@click.option(
    "--policy",
    metavar="FILE",
    help="Drift thresholds (YAML); a breach exits 1 and is named in the report.",
)
@click.option(
    "--schema",
    metavar="FILE",
    help="Validate both sides against a pandera schema (REFs reuse cached chunk verdicts); "
    "NEW failing exits 1. Without it the report shows each version's verdict recorded at snapshot.",
)
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE (default: stdout).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists (never a link or a device).")
@read_options
@engine_options
@pass_state
def diff(
    state: State,
    old: str,
    new: str | None,
    keys: tuple[str, ...],
    no_key: bool,
    fmt: str,
    limit: int,
    exit_code: bool,
    stats: bool,
    abs_tol: float,
    rel_tol: float,
    tols: tuple[str, ...],
    policy: str | None,
    schema: str | None,
    output: str | None,
    force: bool,
    read: ReadOptions | None,
    engine: str | None,
    spark_master: str | None,
    spark_conf: tuple[str, ...],
) -> None:
    """Show schema, row and column changes between two versions.

    Either side may be a SOURCE (files not yet snapshotted). `dvtool diff NAME` compares the latest version with its parent. Chunks that
    are identical on both sides are skipped without being read. A SOURCE that a REF on the other side was snapshotted from is read with
    the read options recorded there, as snapshot does; read options given here replace them.

    \b
    Example:
      dvtool diff orders                                  # latest against its parent
      dvtool diff orders@v3 orders@v4 --format markdown   # a pull-request comment
      dvtool diff orders new_orders.csv --exit-code       # a working file against the latest
      dvtool diff orders@v3 orders@v4 --abs-tol 0.01 --policy drift.yaml --format html -o review.html
      dvtool diff orders@v1 orders@v2 --engine spark      # the same diff, computed in Spark
      dvtool diff orders data/orders.csv --schema orders.schema.yaml --format markdown

    Exit 0 the diff ran; 1 a --policy breach, NEW failing --schema, or (with --exit-code) any
    difference; 2 could not run (bad REF, SOURCE, policy or schema file).
    """
    check_output_early(output, force)
    from dvtool import load_policy

    if no_key and keys:
        raise UsageError("--key and --no-key cannot be used together")
    key = () if no_key else (keys or None)
    loaded = load_policy(policy) if policy is not None else None
    if fmt in ("junit", "github") and loaded is None and schema is None:
        raise UsageError(
            f"--format {fmt} reports drift policy and validation checks; "
            "add --policy FILE or --schema FILE"
        )
    review: dict[str, Any] = {
        "abs_tol": abs_tol,
        "rel_tol": rel_tol,
        "tol": list(tols),
        "distributions": stats or fmt == "html",
        "policy": loaded,
        "schema": schema,
    }
    engine_args = engine_kwargs(engine, spark_master, spark_conf)
    repo = repo_or_none(state, old) if new is not None else state.repo()
    if repo is None and wants_spark(engine):
        raise UsageError(
            "--engine spark diffs snapshots (REFs) of a repository; none was found here"
        )
    if repo is not None:
        result = repo.diff(
            old, new, key=key, limit=limit, stats=stats, read=read, **review, **engine_args
        )
    else:  # two files and no repository around: still a diff
        from dvtool import diff_sources

        result = diff_sources(
            old,
            new,
            key=key,
            limit=limit,
            stats=stats,
            storage_options=state.storage_options,
            read=read,
            **review,
        )
    write_output(result.render(fmt), output, force=force)
    if output is not None and not state.quiet and result.policy is not None:
        p = result.policy
        click.echo(
            printable(
                f"policy {p.source}: " + ("passed" if p.ok else f"{len(p.breaches)} breach(es)")
            ),
            err=True,
        )
    v = result.validation
    if output is not None and not state.quiet and v is not None and v.checked:
        click.echo(printable(f"validation: {v.new.target} {v.new.summary()}"), err=True)
    if not result.passed or (exit_code and not result.empty):
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("sql", metavar="SQL")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="Output format (json: an array of row objects).",
)
@click.option("--output", "-o", metavar="FILE", help="Write the result to FILE (default: stdout).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists (never a link or a device).")
@engine_options
@pass_state
def query(
    state: State,
    sql: str,
    fmt: str,
    output: str | None,
    force: bool,
    engine: str | None,
    spark_master: str | None,
    spark_conf: tuple[str, ...],
) -> None:
    """Run SQL over the repository's datasets (DuckDB, or Spark SQL).

    The SQL is DuckDB's by default, Spark's with --engine spark.

    Each dataset is a table by its name (latest version) and by "NAME@REF"
    (double quotes) for any version. Only the named snapshots are read.

    \b
    Example:
      dvtool query 'select category, count(*) as n from orders group by all order by n desc'
      dvtool query 'select count(*) from "orders@v1"' --format json
      dvtool query 'select * from orders' --format parquet -o orders.parquet
      dvtool query 'select status, count(*) as n from "orders@v2" group by status' --engine spark
    """
    check_output_early(output, force)
    from dvtool import open_output, write_query_result

    stdout = sys.stdout.buffer
    if fmt == "parquet" and output is None and stdout.isatty():
        raise UsageError("parquet output is binary; pass --output FILE or redirect stdout")
    with state.repo().open_query(sql, **engine_kwargs(engine, spark_master, spark_conf)) as result:
        if output is None:
            write_query_result(result.reader, fmt, stdout)
            stdout.flush()
            return
        with open_output(output, force=force) as f:
            write_query_result(result.reader, fmt, f)


@click.group(name="schema")
def schema_group() -> None:
    """Work with pandera schemas."""


@schema_group.command(name="infer")
@click.argument("target", metavar="REF|SOURCE")
@click.option("--output", "-o", metavar="FILE", help="Write the YAML to FILE (default: stdout).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists (never a link or a device).")
@read_options
@pass_state
def schema_infer(
    state: State, target: str, output: str | None, force: bool, read: ReadOptions | None
) -> None:
    """Write a pandera YAML schema that the data passes.

    A polars schema: dtypes, nullable columns, numeric ranges, the key as unique.

    \b
    Example:
      dvtool schema infer orders -o orders.schema.yaml
      dvtool validate orders --schema orders.schema.yaml
    """
    check_output_early(output, force)
    repo = repo_or_none(state, target)
    if repo is not None:
        text = repo.infer_schema(target, read=read)
    else:
        from dvtool import infer_source_schema

        text = infer_source_schema(target, storage_options=state.storage_options, read=read)
    write_output(text, output, force=force)


COMMANDS = [validate, diff, query, schema_group]

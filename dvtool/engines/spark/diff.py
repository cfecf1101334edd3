"""``dvtool diff --engine spark``: the rows of two snapshots compared in Spark SQL.

:func:`dvtool.diff.plan.diff` still decides what to compare — chunks with
the same fingerprint on both sides are skipped unread, key ranges split the
rest into groups, one-sided groups are counted from the manifests — and
hands each group to :class:`SparkDiffEngine` instead of the DuckDB engine.
The SQL is the same comparison: a full outer join on the key (keyed) or a
multiset difference over whole rows (keyless), "not distinct" equality
(``<=>``: null equals null, NaN equals NaN, -0.0 equals 0.0), samples in key
order with nulls last, so the JSON is the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dvtool.diff.columns import ColumnTally, Tolerance, is_numeric, keyed_delta_query, tally
from dvtool.diff.report import ChangedRow
from dvtool.diff.rows import Side, _conform, _same_family
from dvtool.engines.spark.reading import ChunkSource, chunk_frame
from dvtool.engines.spark.sqltext import ident, job_error
from dvtool.errors import DataError
from dvtool.format.models import ChunkInfo

if TYPE_CHECKING:
    from dvtool.snapshot import Snapshot

__all__ = ["SparkDiffEngine"]

# Spark runs each group as a job; bigger groups than DuckDB's keep jobs few.
GROUP_ROWS = 20_000_000


_ISFINITE = re.compile(r"isfinite\((abs\(CAST\(\w+ AS DOUBLE\) - CAST\(\w+ AS DOUBLE\)\))\)")


class _SqlConnection:
    """Just enough of a DuckDB connection for dvtool.diff.columns.tally to run its SQL on Spark."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._row: list[Any] = []

    def execute(self, text: str) -> _SqlConnection:
        # DuckDB's isfinite() has no Spark twin; its argument here is always abs(...) >= 0,
        # and Spark orders NaN above Infinity, so "< Infinity" is the same test.
        text = _ISFINITE.sub(r"(\1 < double('Infinity'))", text)
        self._row = list(self.spark.sql(text).collect()[0])
        return self

    def fetchone(self) -> list[Any]:
        return self._row

    def fetchall(self) -> list[list[Any]]:
        return [self._row]


class SparkDiffEngine:
    """Runs the groups of one diff on a SparkSession and adds up the results (like dvtool.diff.rows.Engine)."""

    def __init__(
        self,
        spark: Any,
        snaps: tuple[Snapshot, Snapshot],
        storage_options: dict[str, str],
        old: Side,
        new: Side,
        key: tuple[str, ...],
        limit: int,
        tolerances: Mapping[str, Tolerance] | None = None,
    ) -> None:
        self.spark, self.snaps, self.options = spark, snaps, storage_options
        self.old, self.new, self.key, self.limit = old, new, key, limit
        common = [f.name for f in old.schema if f.name in set(new.schema.names)]
        self.cast = {
            c: not _same_family(old.schema.field(c).type, new.schema.field(c).type) for c in common
        }
        self.compared = [c for c in common if c not in key]
        self.added = self.removed = self.changed = self.unchanged = 0
        self.per_column = dict.fromkeys(self.compared, 0)
        self.s_added: list[dict[str, Any]] = []
        self.s_removed: list[dict[str, Any]] = []
        self.s_changed: list[ChangedRow] = []
        # Column comparison (dvtool.diff.columns): the same tolerances and sums as DuckDB's engine.
        self.tolerances = {c: (tolerances or {}).get(c, Tolerance()) for c in self.compared}
        self.numeric = {
            c: is_numeric(old.schema.field(c).type) and is_numeric(new.schema.field(c).type)
            for c in self.compared
        }
        self.tallies = {c: ColumnTally() for c in self.compared}
        self._cached: list[Any] = []
        self._views = 0

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()

    def need(self, samples: list[Any]) -> int:
        return max(self.limit - len(samples), 0)

    def _frame(self, which: int, chunks: Sequence[ChunkInfo]) -> Any:
        return chunk_frame(self.spark, ChunkSource(self.snaps[which], self.options, chunks))

    def _expr(self, alias: str, column: str) -> Any:
        from pyspark.sql import functions as F

        ref = F.col(f"{alias}.{ident(column)}")
        return ref.cast("string") if self.cast[column] else ref

    def _check_key(self, frame: Any, side: Side) -> None:
        from pyspark.sql import functions as F

        nulls = None
        for k in self.key:
            cond = F.col(ident(k)).isNull()
            nulls = cond if nulls is None else nulls | cond
        found = frame.filter(nulls).count()
        if found:
            raise DataError(
                f"key ({', '.join(self.key)}) has {found} null value(s) in {side.label}"
            )
        cols = [F.col(ident(k)) for k in self.key]
        dups = (
            frame.groupBy(*cols).count().filter(F.col("count") > 1)
            .orderBy(F.col("count").desc(), *[c.asc_nulls_last() for c in cols]).limit(1).collect()
        )  # fmt: skip
        if dups:
            dup = list(dups[0])
            where = ", ".join(f"{k}={v!r}" for k, v in zip(self.key, dup[:-1], strict=True))
            raise DataError(
                f"key ({', '.join(self.key)}) is not unique in {side.label}: {where} appears {dup[-1]} times"
            )

    # -- keyed ---------------------------------------------------------------

    def _sql_expr(self, alias: str, column: str) -> str:
        ref = f"{alias}.{ident(column)}"
        return f"CAST({ref} AS STRING)" if self.cast[column] else ref

    def keyed_group(
        self,
        old_chunks: Sequence[ChunkInfo],
        new_chunks: Sequence[ChunkInfo],
        trusted: tuple[bool, bool],
    ) -> None:
        """The DuckDB engine's comparison in Spark SQL: full outer join on the key, tolerances, sums."""
        from pyspark.storagelevel import StorageLevel

        o = self._frame(0, old_chunks)
        n = self._frame(1, new_chunks)
        try:
            for frame, side, ok in ((o, self.old, trusted[0]), (n, self.new, trusted[1])):
                if not ok:
                    self._check_key(frame, side)
            self._views += 1
            vo, vn, vd = (f"dv_{x}_{self._views}" for x in ("old", "new", "delta"))
            o.createOrReplaceTempView(vo)
            n.createOrReplaceTempView(vn)
            query = keyed_delta_query(
                vo,
                vn,
                key=self.key,
                compared=self.compared,
                exact=[
                    f"({self._sql_expr('o', c)} IS DISTINCT FROM {self._sql_expr('n', c)})"
                    for c in self.compared
                ],
                numeric=self.numeric,
                tolerances=self.tolerances,
                old_names=self.old.schema.names,
                new_names=self.new.schema.names,
                expr=self._sql_expr,
                ident=ident,
            )
            delta = self.spark.sql(query).persist(StorageLevel.MEMORY_AND_DISK)
            self._cached.append(delta)
            delta.createOrReplaceTempView(vd)
            counts = [f"count(*) FILTER (WHERE dv_kind = '{k}')" for k in ("a", "r", "c")]
            counts += [
                f"count(*) FILTER (WHERE dv_kind = 'c' AND f{i})" for i in range(len(self.compared))
            ]
            row = list(self.spark.sql(f"SELECT {', '.join(counts)} FROM {vd}").collect()[0])
            added, removed, changed = int(row[0]), int(row[1]), int(row[2])
            for c, v in zip(self.compared, row[3:], strict=True):
                self.per_column[c] += int(v)
            oi = {c: i for i, c in enumerate(self.old.schema.names)}
            ni = {c: i for i, c in enumerate(self.new.schema.names)}
            tally(
                _SqlConnection(self.spark),
                vd,
                [
                    (c, f"f{i}", f"e{i}", f"ox{oi[c]}", f"nx{ni[c]}", self.numeric[c])
                    for i, c in enumerate(self.compared)
                ],
                self.tallies,
            )
            self.added += added
            self.removed += removed
            self.changed += changed
            self.unchanged += sum(c.rows for c in old_chunks) - removed - changed
            self._keyed_samples(delta)
            for view in (vo, vn, vd):
                self.spark.catalog.dropTempView(view)
        except DataError:
            raise
        except Exception as exc:
            raise job_error(exc, "diff") from None
        finally:
            self.close()

    def _keyed_samples(self, delta: Any) -> None:
        from pyspark.sql import functions as F

        order = [F.col(f"k{i}").asc_nulls_last() for i in range(len(self.key))]
        old_names, new_names = self.old.schema.names, self.new.schema.names
        for kind, names, prefix, out in (
            ("a", new_names, "nx", self.s_added),
            ("r", old_names, "ox", self.s_removed),
        ):
            if self.need(out):
                cols = [f"{prefix}{i}" for i in range(len(names))]
                rows = (
                    delta.where(F.col("dv_kind") == kind)
                    .orderBy(*order)
                    .limit(self.need(out))
                    .select(*cols)
                )
                out.extend(
                    dict(zip(names, r.values(), strict=True)) for r in rows.toArrow().to_pylist()
                )
        if self.need(self.s_changed):
            oi = {c: i for i, c in enumerate(old_names)}
            ni = {c: i for i, c in enumerate(new_names)}
            picks = [f"k{i}" for i in range(len(self.key))]
            for j, c in enumerate(self.compared):
                picks += [f"f{j}", f"ox{oi[c]}", f"nx{ni[c]}"]
            frame = (
                delta.where(F.col("dv_kind") == "c")
                .orderBy(*order)
                .limit(self.need(self.s_changed))
            )
            nk = len(self.key)
            for r in frame.select(*picks).toArrow().to_pylist():
                values = list(r.values())
                key = MappingProxyType(dict(zip(self.key, values[:nk], strict=True)))
                changes = {}
                for j, c in enumerate(self.compared):
                    flag, ov, nv = values[nk + 3 * j : nk + 3 * j + 3]
                    if flag:
                        changes[c] = (ov, nv)
                self.s_changed.append(ChangedRow(key, MappingProxyType(changes)))

    def one_sided(self, side: Side, chunks: Sequence[ChunkInfo], kind: str) -> int:
        """Chunks on one side only: counted from the manifest, read (on the driver) only for samples."""
        out = self.s_added if kind == "a" else self.s_removed
        if kind == "a":
            self.added += sum(c.rows for c in chunks)
        else:
            self.removed += sum(c.rows for c in chunks)
        read = 0
        names = side.schema.names
        for chunk in chunks:
            if not self.need(out):
                break
            assert side.load is not None
            table = _conform(side.load(chunk), side.schema, f"chunk {chunk.object} of {side.label}")
            read += 1
            out.extend(
                dict(zip(names, r.values(), strict=True))
                for r in table.slice(0, self.need(out)).to_pylist()
            )
        return read

    # -- keyless -------------------------------------------------------------

    def keyless(self, old_chunks: Sequence[ChunkInfo], new_chunks: Sequence[ChunkInfo]) -> None:
        from pyspark.sql import functions as F
        from pyspark.storagelevel import StorageLevel

        old_rows = sum(c.rows for c in old_chunks)
        new_rows = sum(c.rows for c in new_chunks)
        common = [c for c in self.old.schema.names if c in self.cast]
        if not common:
            self.removed += old_rows
            self.added += new_rows
            return
        try:
            o = self._frame(0, old_chunks).alias("o")
            n = self._frame(1, new_chunks).alias("n")
            cols_o = [self._expr("o", c).alias(f"c{i}") for i, c in enumerate(common)]
            cols_n = [self._expr("n", c).alias(f"c{i}") for i, c in enumerate(common)]
            group = [f"c{i}" for i in range(len(common))]
            both = o.select(*cols_o, F.lit(1).alias("dv_o"), F.lit(0).alias("dv_n")).unionByName(
                n.select(*cols_n, F.lit(0).alias("dv_o"), F.lit(1).alias("dv_n"))
            )
            delta = (
                both.groupBy(*group).agg(F.sum("dv_o").cast("long").alias("dv_o"), F.sum("dv_n").cast("long").alias("dv_n"))
                .where(F.col("dv_o") != F.col("dv_n")).persist(StorageLevel.MEMORY_AND_DISK)
            )  # fmt: skip
            self._cached.append(delta)
            row = delta.agg(
                F.coalesce(F.sum(F.greatest(F.col("dv_n") - F.col("dv_o"), F.lit(0))), F.lit(0)),
                F.coalesce(F.sum(F.greatest(F.col("dv_o") - F.col("dv_n"), F.lit(0))), F.lit(0)),
            ).collect()[0]
            added, removed = int(row[0]), int(row[1])
            self.added += added
            self.removed += removed
            self.unchanged += old_rows - removed
            order = [F.col(g).asc_nulls_last() for g in group]
            for cond, out in (
                (F.col("dv_n") > F.col("dv_o"), self.s_added),
                (F.col("dv_o") > F.col("dv_n"), self.s_removed),
            ):
                if self.need(out):
                    rows = delta.where(cond).orderBy(*order).limit(self.need(out)).select(*group)
                    out.extend(
                        dict(zip(common, r.values(), strict=True))
                        for r in rows.toArrow().to_pylist()
                    )
        except Exception as exc:
            raise job_error(exc, "diff") from None
        finally:
            self.close()

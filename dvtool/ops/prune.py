"""prune: expire old versions by create-only markers; their data goes at the next gc.

A marker is ``datasets/NAME/pruned/<20-digit version>.json``. Version entries
stay, so versions stay gap-free and ``log`` still shows what was there;
tagged versions and the latest version are never pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dvtool.catalog import Catalog
from dvtool.errors import (
    AlreadyExistsError,
    NotFoundError,
    UsageError,
)
from dvtool.format.layout import (
    check_name,
    pruned_key,
    version_key,
)
from dvtool.format.models import (
    V1,
    TagEntry,
    VersionEntry,
    canonical_json,
    parse_json,
)
from dvtool.ops.durations import (
    format_duration,
    iso_time,
    parse_time,
)
from dvtool.storage import Store

__all__ = ["PruneResult", "prune"]


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What :func:`prune` did: versions newly pruned, kept because tagged, pruned before."""

    dataset: str
    rule: str
    pruned: tuple[int, ...]
    kept_tagged: tuple[int, ...]
    already_pruned: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rule": self.rule,
            "pruned": list(self.pruned),
            "kept_tagged": list(self.kept_tagged),
            "already_pruned": list(self.already_pruned),
        }

    def to_text(self) -> str:
        def vs(numbers: tuple[int, ...]) -> str:
            return ", ".join(f"v{n}" for n in numbers)

        lines = []
        if self.pruned:
            lines.append(
                f"{self.dataset}: pruned {len(self.pruned)} version(s) ({self.rule}): {vs(self.pruned)}"
            )
            lines.append("their data is removed by 'dvtool gc' once the grace period has passed")
        else:
            lines.append(f"{self.dataset}: nothing to prune ({self.rule})")
        if self.kept_tagged:
            lines.append(f"kept because tagged: {vs(self.kept_tagged)}")
        return "\n".join(lines)


def prune(
    store: Store,
    dataset: str,
    *,
    keep_last: int | None = None,
    older_than: timedelta | None = None,
) -> PruneResult:
    """Expire versions of ``dataset`` older than the rule; tagged and latest versions stay."""
    check_name(dataset)
    if (keep_last is None) == (older_than is None):
        raise UsageError("prune needs exactly one of --keep-last N or --older-than DURATION")
    if keep_last is not None and keep_last < 1:
        raise UsageError("--keep-last must be at least 1 (the latest version is always kept)")
    versions = sorted(
        int(k.rsplit("/", 1)[-1].removesuffix(".json"))
        for k in store.list(f"datasets/{dataset}/versions")
        if k.rsplit("/", 1)[-1].removesuffix(".json").isdigit()
    )
    if not versions:
        raise NotFoundError(f"unknown dataset '{dataset}'")
    tagged = set()
    for key in store.list(f"datasets/{dataset}/tags"):
        tagged.add(TagEntry.from_dict(parse_json(store.read(key), key)).version)
    already = Catalog(store).pruned(dataset)
    now = store.now()
    if keep_last is not None:
        rule = f"keep the last {keep_last}"
        candidates = versions[:-keep_last]
    else:
        assert older_than is not None
        rule = f"older than {format_duration(older_than)}"
        cutoff = now - older_than
        candidates = []
        for v in versions[:-1]:
            entry = VersionEntry.from_dict(
                parse_json(store.read(version_key(dataset, v)), f"{dataset}@v{v}")
            )
            created = parse_time(entry.created)
            if created is not None and created < cutoff:
                candidates.append(v)
    done: list[int] = []
    kept: list[int] = []
    before: list[int] = []
    for version in candidates:
        if version == versions[-1]:
            continue
        if version in tagged:
            kept.append(version)
            continue
        if version in already:
            before.append(version)
            continue
        entry = VersionEntry.from_dict(
            parse_json(store.read(version_key(dataset, version)), f"{dataset}@v{version}")
        )
        marker = canonical_json(
            {
                "format": V1,
                "kind": "pruned",
                "dataset": dataset,
                "version": version,
                "manifest": entry.manifest,
                "pruned": iso_time(now),
                "rule": rule,
            }
        )
        try:
            # Create-only: a prune is recorded once and never undone or rewritten.
            store.create(pruned_key(dataset, version), marker)
        except AlreadyExistsError:
            before.append(version)
            continue
        done.append(version)
    return PruneResult(dataset, rule, tuple(done), tuple(kept), tuple(before))

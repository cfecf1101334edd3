"""The catalog reads history exactly: names, versions, tags, prune markers, REFs, gc roots.

Written for the mutants mutation testing left alive in dvtool/catalog.py: each
test pins one rule (a message, a boundary, a filter) on a real repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

import dvtool
from dvtool.catalog import Catalog, Roots, checked_manifest_key, checked_object_key
from dvtool.errors import IntegrityError, NotFoundError, UsageError
from dvtool.format.hashing import hash_bytes, object_hex
from dvtool.format.layout import pruned_key, tag_key, version_key
from dvtool.format.models import TagEntry, VersionEntry, parse_json
from dvtool.storage import StoreEntry

ID = hash_bytes(b"some chunk")


def _snap(repo: dvtool.Repo, dataset: str, n: int) -> dvtool.Snapshot:
    return repo.snapshot(pa.table({"id": list(range(n))}), dataset=dataset).snapshot


@pytest.fixture
def repo(tmp_path: Path) -> dvtool.Repo:
    return dvtool.Repo.init(tmp_path / "repo")


@pytest.fixture
def orders(repo: dvtool.Repo) -> dvtool.Repo:
    """orders v1..v3 (1, 2, 3 rows)."""
    for n in (1, 2, 3):
        _snap(repo, "orders", n)
    return repo


# ---- ids and keys ----


def test_checked_keys_accept_ids_and_refuse_anything_else() -> None:
    h = object_hex(ID)
    assert checked_object_key(ID) == f"objects/{h[:2]}/{h[2:]}.parquet"
    assert checked_manifest_key(ID) == f"manifests/{h[:2]}/{h[2:]}.json"
    with pytest.raises(IntegrityError, match=r"^malformed chunk id '\.\./x'$"):
        checked_object_key("../x")
    with pytest.raises(IntegrityError, match=r"^malformed manifest id 'xxh128:zz'$"):
        checked_manifest_key("xxh128:zz")


# ---- datasets ----


def test_dataset_names_come_from_version_entries_only(repo: dvtool.Repo) -> None:
    _snap(repo, "b", 1)
    _snap(repo, "a", 1)
    repo.store.create("datasets/tagsonly/tags/t.json", b"{}")
    repo.store.create("datasets/shallow.json", b"{}")
    assert Catalog(repo.store).dataset_names() == ["a", "b"]


def test_has_dataset_and_is_ref(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    assert cat.has_dataset("orders")
    assert not cat.has_dataset("other")
    assert not cat.has_dataset("-orders")  # not a name: never a path to list
    assert not cat.has_dataset("or..ders")
    assert cat.is_ref("orders") and cat.is_ref("orders@v1") and cat.is_ref("orders@anything")
    for arg in ("./orders", "../orders", "/orders", "s3://orders", "file://orders", "other"):
        assert not cat.is_ref(arg), arg
    assert not cat.is_ref(pa.table({"x": [1]}))  # type: ignore[arg-type]
    assert not cat.is_ref("orders@http://host/x")  # a URL, whatever precedes it
    assert cat.is_ref("orders@a@b")  # names the dataset: a REF (that will not resolve)


def test_a_dataset_whose_name_ends_in_dots_is_no_dataset(tmp_path: Path) -> None:
    repo = dvtool.Repo.init(tmp_path / "r")
    (tmp_path / "r" / "datasets" / "a..b" / "versions").mkdir(parents=True)
    (tmp_path / "r" / "datasets" / "a..b" / "versions" / f"{1:020d}.json").write_text("{}")
    assert not Catalog(repo.store).has_dataset("a..b")


def test_case_twin_is_refused_with_both_names(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    cat.refuse_case_twin("orders")  # the dataset itself
    cat.refuse_case_twin("customers")
    with pytest.raises(UsageError) as info:
        cat.refuse_case_twin("Orders")
    assert str(info.value) == (
        "dataset name 'Orders' differs from the existing 'orders' only by case; "
        "use 'orders' or another name"
    )


def test_unknown_dataset_in_an_empty_repository(repo: dvtool.Repo) -> None:
    err = Catalog(repo.store).unknown_dataset("orders")
    assert isinstance(err, NotFoundError)
    assert str(err) == (
        "unknown dataset 'orders' (the repository is empty; see 'dvtool snapshot --help')"
    )


def test_unknown_dataset_suggests_one_close_name_and_lists_ten(repo: dvtool.Repo) -> None:
    names = [f"orders{i:02d}" for i in range(12)]
    for name in names:
        _snap(repo, name, 1)
    cat = Catalog(repo.store)
    assert str(cat.unknown_dataset("orders05x")) == (
        f"unknown dataset 'orders05x' (did you mean 'orders05'? datasets: {', '.join(names[:10])})"
    )
    assert str(cat.unknown_dataset("zzz")) == (
        f"unknown dataset 'zzz' (datasets: {', '.join(names[:10])})"
    )


# ---- versions, tags, prune markers ----


def test_versions_head_and_entries(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    orders.store.create("datasets/orders/versions/notes.json", b"{}")
    orders.store.create("datasets/orders/versions/1.json", b"{}")
    assert cat.versions("orders") == [1, 2, 3]
    assert sorted(cat.version_keys("orders").items()) == [
        (v, version_key("orders", v)) for v in (1, 2, 3)
    ]
    head = cat.head("orders")
    assert head is not None and (head.version, head.rows) == (3, 3)
    assert cat.head("other") is None
    data, entry = cat.entry_bytes("orders", 2)
    assert data == orders.store.read(version_key("orders", 2)) and entry.version == 2
    assert cat.entry("orders", 1).rows == 1


def test_a_version_entry_stored_under_another_version_is_refused(orders: dvtool.Repo) -> None:
    root = Path(orders.store.url)
    v2 = root / version_key("orders", 2)
    v2.chmod(0o644)
    v2.write_bytes((root / version_key("orders", 1)).read_bytes())
    with pytest.raises(IntegrityError) as info:
        Catalog(orders.store).entry("orders", 2)
    assert str(info.value) == (
        f"{version_key('orders', 2)} in {orders.store.url} describes orders@v1, "
        "not orders@v2; run 'dvtool fsck'"
    )


def test_tags_are_read_sorted_and_odd_files_ignored(orders: dvtool.Repo) -> None:
    orders.tag("orders@v2", "zeta")
    orders.tag("orders@v1", "alpha")
    orders.store.create("datasets/orders/tags/-bad.json", b"{}")
    orders.store.create("datasets/orders/tags/README", b"x")
    cat = Catalog(orders.store)
    assert cat.tag_keys("orders") == {
        "alpha": tag_key("orders", "alpha"),
        "zeta": tag_key("orders", "zeta"),
    }
    assert [(t.tag, t.version) for t in cat.tags("orders")] == [("alpha", 1), ("zeta", 2)]


def test_pruned_versions(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    assert cat.pruned("orders") == set()
    orders.prune("orders", keep_last=1)
    assert cat.pruned("orders") == {1, 2}


def test_manifest_of_refuses_a_manifest_of_another_version(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    v1, v2 = cat.entry("orders", 1), cat.entry("orders", 2)
    assert cat.manifest_of(v2).version == 2
    forged = VersionEntry("orders", 2, v1.manifest, v2.created, v2.rows, "")
    with pytest.raises(IntegrityError) as info:
        cat.manifest_of(forged)
    assert str(info.value) == (
        "the version entry of orders@v2 points at the manifest of orders@v1 "
        f"({v1.manifest}); run 'dvtool fsck'"
    )
    other = _snap(orders, "other", 1)
    forged = VersionEntry("orders", 1, other.id, v1.created, 1, "")
    with pytest.raises(IntegrityError, match="points at the manifest of other@v1"):
        cat.manifest_of(forged)
    data, manifest = cat.manifest_bytes(v1.manifest)
    assert hash_bytes(data) == v1.manifest and manifest.version == 1


# ---- REFs ----


def test_resolve_every_kind_of_ref(orders: dvtool.Repo) -> None:
    orders.tag("orders@v2", "release")
    orders.tag("orders@v2", "approved")
    cat = Catalog(orders.store)
    assert cat.resolve("orders").entry.version == 3
    assert cat.resolve("orders@v1").entry.version == 1
    assert cat.resolve("orders@v03").entry.version == 3
    assert cat.resolve("orders@~0").entry.version == 3
    assert cat.resolve("orders@~2").entry.version == 1
    got = cat.resolve("orders@release")
    assert (got.entry.version, got.tags, got.manifest.version) == (2, ("approved", "release"), 2)
    assert cat.resolve("orders@v1").tags == ()
    v1 = cat.entry("orders", 1).manifest
    assert cat.resolve(f"orders@{object_hex(v1)[:8]}").entry.version == 1
    assert cat.resolve(f"orders@{v1}").entry.version == 1
    assert cat.resolve(f"orders@xxh128:{object_hex(v1)[:12]}").entry.version == 1
    snap = cat.get("orders@release")
    assert (snap.version, snap.tags, snap.id) == (2, ("approved", "release"), got.entry.manifest)


def test_resolve_errors_say_what_exists(orders: dvtool.Repo, repo: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    with pytest.raises(NotFoundError, match=r"^orders has no version 4 \(latest is v3\)$"):
        cat.resolve("orders@v4")
    with pytest.raises(NotFoundError, match=r"^orders@~3: orders has only 3 version\(s\)$"):
        cat.resolve("orders@~3")
    with pytest.raises(NotFoundError) as info:
        cat.resolve("orders@nope")
    assert str(info.value) == (
        "unknown ref 'orders@nope': no tag or snapshot id 'nope' in orders "
        "(it has no tags; versions v1..v3; see 'dvtool log orders')"
    )
    for i in range(12):
        orders.tag("orders@v1", f"t{i:02d}")
    with pytest.raises(NotFoundError) as info:
        cat.resolve("orders@deadbeef")
    tags = ", ".join(f"t{i:02d}" for i in range(10))
    assert str(info.value) == (
        "unknown ref 'orders@deadbeef': no tag or snapshot id 'deadbeef' in orders "
        f"(tags: {tags}; versions v1..v3; see 'dvtool log orders')"
    )
    with pytest.raises(NotFoundError, match=r"^unknown dataset 'nope'"):
        cat.resolve("nope@v1")
    with pytest.raises(UsageError, match="invalid dataset name"):
        cat.resolve("../x@v1")


def _forge_tag(repo: dvtool.Repo, tag: str, version: int) -> None:
    """A tag written before such names were refused (straight into the store)."""
    manifest = Catalog(repo.store).entry("orders", version).manifest
    entry = TagEntry("orders", tag, version, manifest, "2026-01-01T00:00:00.000000Z")
    repo.store.create(tag_key("orders", tag), entry.encode())


def test_a_version_like_tag_on_another_version_is_ambiguous(orders: dvtool.Repo) -> None:
    _forge_tag(orders, "v1", 2)
    _forge_tag(orders, "v3", 3)
    cat = Catalog(orders.store)
    with pytest.raises(UsageError) as info:
        cat.resolve("orders@v1")
    assert str(info.value) == (
        "orders@v1 is ambiguous: version 1, or the tag 'v1' on v2; "
        "name the snapshot by its id instead (see 'dvtool log orders')"
    )
    assert cat.resolve("orders@v3").entry.version == 3  # the same version: no doubt


def test_an_id_like_tag_that_is_also_an_id_prefix_is_ambiguous(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    v1 = object_hex(cat.entry("orders", 1).manifest)
    _forge_tag(orders, v1[:8], 2)
    _forge_tag(orders, v1[:9], 1)
    with pytest.raises(UsageError) as info:
        cat.resolve(f"orders@{v1[:8]}")
    assert str(info.value) == (
        f"orders@{v1[:8]} is ambiguous: tag '{v1[:8]}' on v2, or the snapshot id prefix of "
        "v1; use orders@v2 or a longer id"
    )
    assert cat.resolve(f"orders@{v1[:9]}").entry.version == 1


def test_an_id_prefix_matching_two_version_entries_is_ambiguous(repo: dvtool.Repo) -> None:
    first = _snap(repo, "d", 1)
    entry = VersionEntry("d", 2, first.id, "2026-01-01T00:00:00.000000Z", 1, "")
    repo.store.create(version_key("d", 2), entry.encode())  # a second entry, same manifest
    prefix = object_hex(first.id)[:8]
    for spec in (prefix, f"xxh128:{prefix}"):
        with pytest.raises(UsageError) as info:
            Catalog(repo.store).resolve(f"d@{spec}")
        assert str(info.value) == f"d@{spec} is ambiguous: 2 snapshots start with {prefix}"


def test_pruned_versions_are_not_served_unless_tagged_or_latest(orders: dvtool.Repo) -> None:
    orders.tag("orders@v1", "keep")
    orders.store.create(pruned_key("orders", 1), b"{}")
    orders.store.create(pruned_key("orders", 2), b"{}")
    orders.store.create(pruned_key("orders", 3), b"{}")
    cat = Catalog(orders.store)
    assert cat.resolve("orders@v1").entry.version == 1  # tagged
    assert cat.resolve("orders").entry.version == 3  # latest
    with pytest.raises(NotFoundError) as info:
        cat.resolve("orders@v2")
    assert str(info.value) == (
        "orders@v2 was pruned: its data is removed by 'dvtool gc' (the version stays in the log)"
    )


def test_query_table_maps_sql_names(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    orders.tag("orders@v1", "first")
    assert cat.query_table("orders").version == 3  # type: ignore[union-attr]
    assert cat.query_table("ORDERS").version == 3  # type: ignore[union-attr]
    assert cat.query_table("Orders@first").version == 1  # type: ignore[union-attr]
    assert cat.query_table("orders@v2", ["orders"]).version == 2  # type: ignore[union-attr]
    assert cat.query_table("lineitem") is None
    with pytest.raises(NotFoundError) as info:
        cat.query_table("lineitem@v1")
    assert (
        str(info.value)
        == "query names 'lineitem@v1', but there is no dataset 'lineitem' (datasets: orders)"
    )
    with pytest.raises(NotFoundError) as info:
        cat.query_table("lineitem@v1", [])
    assert str(info.value) == (
        "query names 'lineitem@v1', but there is no dataset 'lineitem' (the repository is empty)"
    )
    many = [f"d{i:02d}" for i in range(25)]
    with pytest.raises(NotFoundError) as info:
        cat.query_table("x@v1", many)
    assert str(info.value).endswith(f"(datasets: {', '.join(many[:20])})")


def test_query_table_refuses_names_equal_ignoring_case(orders: dvtool.Repo) -> None:
    cat = Catalog(orders.store)
    with pytest.raises(UsageError) as info:
        cat.query_table("ORDERS", ["orders", "Orders"])
    assert str(info.value) == (
        "query names 'ORDERS', but datasets 'orders' and 'Orders' differ only by case, which "
        "SQL cannot tell apart; query them through dvtool.Repo.get(...).to_arrow() or rename "
        "one (export it and snapshot it under another name)"
    )
    with pytest.raises(UsageError, match="differ only by case"):
        cat.query_table("orders", ["orders", "Orders"])


# ---- gc roots ----


def test_roots_read_every_entry_tag_and_marker(orders: dvtool.Repo) -> None:
    orders.tag("orders@v2", "release")
    orders.prune("orders", keep_last=1)
    orders.store.create("datasets/orders/versions/.tmp-leftover.json", b"junk")
    orders.store.create("datasets/orders/notes/x.json", b"junk")
    orders.store.create("datasets/orders/versions/latest.json", b"{}")
    cat = Catalog(orders.store)
    roots = cat.roots()
    entries = {v: cat.entry("orders", v) for v in (1, 2, 3)}
    assert roots.versions == {("orders", v): e for v, e in entries.items()}
    assert set(roots.tags) == {("orders", "release")}
    assert roots.pruned == frozenset({("orders", 1)})  # v2 is tagged
    assert "datasets/orders/versions/latest.json" in roots.keys
    assert not any("tmp" in k or "notes" in k for k in roots.keys)
    assert roots.live_manifests() == {
        entries[3].manifest: "orders@v3",
        entries[2].manifest: "orders@v2",  # not pruned: it is tagged
    }
    assert roots.all_manifests() == {e.manifest for e in entries.values()}
    listed = [StoreEntry(version_key("orders", 3), 1, None)]
    only = cat.roots(listed)
    assert list(only.versions) == [("orders", 3)] and only.keys == {version_key("orders", 3)}


def test_roots_propagate_a_damaged_entry(orders: dvtool.Repo) -> None:
    orders.store.create(pruned_key("orders", 1), b"not json")
    with pytest.raises(IntegrityError, match=re.escape(f"{pruned_key('orders', 1)} in ")):
        Catalog(orders.store).roots()


def test_live_manifests_name_the_first_ref_that_needs_them() -> None:
    def entry(name: str, version: int, manifest: str) -> VersionEntry:
        return VersionEntry(name, version, manifest, "t", 1, "")

    a, b = hash_bytes(b"a"), hash_bytes(b"b")
    roots = Roots(
        versions={
            ("x", 2): entry("x", 2, a),
            ("x", 1): entry("x", 1, a),
            ("y", 1): entry("y", 1, b),
        },
        tags={("y", "t"): TagEntry("y", "t", 1, b, "t")},
        pruned=frozenset({("x", 1)}),
        keys=frozenset(),
    )
    assert roots.live_manifests() == {a: "x@v2", b: "y@v1"}
    roots = Roots(
        versions={("y", 1): entry("y", 1, b)},
        tags={("y", "t"): TagEntry("y", "t", 1, b, "t"), ("y", "s"): TagEntry("y", "s", 1, a, "t")},
        pruned=frozenset({("y", 1)}),
        keys=frozenset(),
    )
    assert roots.live_manifests() == {a: "y@s", b: "y@t"}


# ---- the marker ----


def test_init_twice_is_refused(tmp_path: Path) -> None:
    dvtool.Repo.init(tmp_path / "r")
    with pytest.raises(UsageError) as info:
        dvtool.Repo.init(tmp_path / "r")
    assert str(info.value) == f"a dvtool repository already exists at {tmp_path / 'r'}"
    marker = parse_json((tmp_path / "r" / "dvtool.json").read_bytes(), "marker")
    assert set(marker) == {"format", "version", "created"} and marker["format"] == "dvtool"


def test_init_and_open_default_to_dot_dvtool_and_search_upwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    monkeypatch.chdir(tmp_path)
    dvtool.Repo.init()
    assert (tmp_path / ".dvtool" / "dvtool.json").is_file()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "a" / ".dvtool").mkdir()  # a folder without a marker is skipped
    monkeypatch.chdir(deep)
    assert dvtool.Repo.open().store.url == str(tmp_path / ".dvtool")
    other = dvtool.Repo.init(tmp_path / "other")
    monkeypatch.setenv("DVTOOL_REPO", str(tmp_path / "other"))
    assert dvtool.Repo.open().store.url == other.store.url
    monkeypatch.setenv("DVTOOL_REPO", "")
    assert dvtool.Repo.open().store.url == str(tmp_path / ".dvtool")


def test_open_with_no_repository_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVTOOL_REPO", raising=False)
    monkeypatch.chdir(tmp_path)
    if any((p / ".dvtool" / "dvtool.json").is_file() for p in tmp_path.parents):
        pytest.skip("a repository above the temp folder")
    with pytest.raises(NotFoundError) as info:
        dvtool.Repo.open()
    assert str(info.value) == "no repository found here or above; run 'dvtool init' or pass --repo"
    with pytest.raises(NotFoundError) as info:
        dvtool.Repo.open(tmp_path / "none")
    assert str(info.value) == (
        f"no dvtool repository at {tmp_path / 'none'}; run 'dvtool init {tmp_path / 'none'}'"
    )


@pytest.mark.parametrize(
    ("marker", "error", "message"),
    [
        (
            b'{"format": "other", "version": 1}',
            IntegrityError,
            "{root}/dvtool.json is not a dvtool marker",
        ),
        (b'{"version": 1}', IntegrityError, "{root}/dvtool.json is not a dvtool marker"),
        (
            b'{"format": "dvtool", "version": 999}',
            UsageError,
            "repository format 999 is newer than this dvtool understands (2); upgrade dvtool",
        ),
    ],
)
def test_open_checks_the_marker(
    tmp_path: Path, marker: bytes, error: type[Exception], message: str
) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "dvtool.json").write_bytes(marker)
    with pytest.raises(error) as info:
        dvtool.Repo.open(root)
    assert str(info.value) == message.format(root=root)


def test_open_accepts_a_marker_without_a_version_and_the_current_one(tmp_path: Path) -> None:
    for name, marker in (
        ("a", b'{"format": "dvtool"}'),
        ("b", b'{"format": "dvtool", "version": 1}'),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dvtool.json").write_bytes(marker)
        assert dvtool.Repo.open(tmp_path / name).dataset_names() == []


def test_open_refuses_credentials_in_the_url() -> None:
    with pytest.raises(UsageError, match=r"\*\*\*@bucket"):
        dvtool.Repo.open("s3://key:secret@bucket/repo")
    with pytest.raises(UsageError, match=r"\*\*\*@bucket"):
        dvtool.Repo.init("s3://key:secret@bucket/repo")


def test_open_a_memory_repository(tmp_path: Path) -> None:
    url = f"memory://catalog-test-{tmp_path.name}"
    made = dvtool.Repo.init(url)
    _snap(made, "orders", 2)
    again = dvtool.Repo.open(url)
    assert again.dataset_names() == ["orders"]
    assert Catalog(again.store).resolve("orders").entry.rows == 2


def test_a_version_entry_that_is_not_json_is_named(orders: dvtool.Repo) -> None:
    v2 = Path(orders.store.url) / version_key("orders", 2)
    v2.chmod(0o644)
    v2.write_bytes(b"{torn")
    with pytest.raises(IntegrityError, match=r"^version entry orders@v2 is not valid JSON \("):
        Catalog(orders.store).entry("orders", 2)


def test_a_tag_that_is_not_json_is_named(orders: dvtool.Repo) -> None:
    orders.store.create(tag_key("orders", "broken"), b"{torn")
    with pytest.raises(
        IntegrityError, match=r"^tag datasets/orders/tags/broken\.json is not valid JSON \("
    ):
        Catalog(orders.store).tags("orders")

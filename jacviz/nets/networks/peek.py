"""A network file's metadata, read from its header without loading the network.

The Examples menu titles and describes each example this way: reading a few KiB of header is
cheap, and it runs none of the file's code. Bounded: headers over :data:`MAX_HEADER_BYTES`
are not read, and anything unreadable reads as no metadata (loading the file then says why).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from jacviz.nets.networks.limits import EXTRA_FILE
from jacviz.nets.networks.mlp_schema import HEADER_KEY
from jacviz.nets.networks.strict import strict_json

MAX_HEADER_BYTES = 1 << 20
"""Headers larger than this are not read for the menu (a network's header is a few KiB)."""


def _safetensors_metadata(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        size = int.from_bytes(file.read(8), "little")
        if not 2 <= size <= MAX_HEADER_BYTES:
            return {}
        header = strict_json(file.read(size).decode("utf-8"))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get(HEADER_KEY), str):
        return {}
    document = strict_json(meta[HEADER_KEY])
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _archive_metadata(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        for entry in archive.infolist():
            parts = entry.filename.split("/")
            if parts[-2:] == ["extra", EXTRA_FILE] and entry.file_size <= MAX_HEADER_BYTES:
                value = strict_json(archive.read(entry).decode("utf-8"))
                return value if isinstance(value, dict) else {}
    return {}


def peek_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata a network file carries, read from its header without loading it.

    Returns an empty dict for a file without metadata, or one whose header cannot be read
    (loading it then says why).
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            return _archive_metadata(path)
        return _safetensors_metadata(path)
    except (OSError, ValueError, RecursionError, zipfile.BadZipFile):
        return {}

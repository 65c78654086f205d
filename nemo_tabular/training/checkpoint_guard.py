"""Check a distributed checkpoint's files before torch or megatron unpickle any of them.

torch's distributed-checkpoint reader unpickles `iter_*/.metadata` with plain `pickle.load`, and
its load planner reads every byte item of the `.distcp` shards (RNG states, `_extra_state`) with
`torch.load(weights_only=False)`: a crafted checkpoint directory could run code the moment resume,
init_from, sampling, export, embed or search opens it. `verify_checkpoint` runs first, on every load
(`training.checkpoint.read_checkpoint`), and reads the files as data only:

- `metadata.json` must name the backends this project writes (torch_dist shards, torch common file);
- `.metadata` is unpickled by `MetadataUnpickler`, which resolves only the classes torch's checkpoint
  metadata is made of; any other global is refused before anything is called;
- every item the metadata lists must lie inside a shard file of the checkpoint directory, so a
  truncated or missing shard is named here instead of failing deep in the reader;
- each byte item and `common.pt` must load with torch's weights-only unpickler (tensors, numbers,
  containers).

Only then is the directory handed to megatron, which reads the same bytes again. Weights are not
hashed: a shard whose tensor bytes were altered still loads (as other weights), it just runs nothing.

`trust=True` (the `trust_checkpoint=true` config key of train, sample, export, embed and search) is the
escape for a foreign checkpoint whose pickles hold other classes: its metadata is then unpickled as
torch would, and only the completeness checks run. Off by default; each refusal names the key.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from pathlib import Path

import torch
from torch.distributed.checkpoint.filesystem import _StorageInfo
from torch.distributed.checkpoint.metadata import BytesStorageMetadata, Metadata

from nemo_tabular.errors import UserError

METADATA_FILE = ".metadata"
BACKENDS_FILE = "metadata.json"
COMMON_FILE = "common.pt"
BACKENDS = {"sharded_backend": "torch_dist", "common_backend": "torch"}

# The globals a dist checkpoint's .metadata holds (torch 2.x, megatron-core's torch_dist writer),
# found by recording what unpickling real checkpoints of this project asks for; torch dtypes are
# allowed by type, below. Names, not modules: a module also exposes whatever it imported.
ALLOWED_GLOBALS = {
    "torch.distributed.checkpoint.metadata": {
        "Metadata",
        "MetadataIndex",
        "StorageMeta",
        "ChunkStorageMetadata",
        "TensorProperties",
        "TensorStorageMetadata",
        "BytesStorageMetadata",
        "_MEM_FORMAT_ENCODING",
    },
    "torch.distributed.checkpoint.planner": {
        "SavePlan",
        "WriteItem",
        "WriteItemType",
        "TensorWriteData",
        "BytesIOWriteData",
        "LoadPlan",
        "ReadItem",
        "LoadItemType",
    },
    "torch.distributed.checkpoint.filesystem": {"_StorageInfo", "_StoragePrefix"},
    "torch": {"Size"},
    "torch.serialization": {"_get_layout"},  # a dict lookup of torch.strided and friends by name
    "collections": {"OrderedDict"},
    "builtins": {"set", "frozenset", "bytearray"},  # containers older pickle protocols spell as globals
}


TRUST_KEY = "trust_checkpoint"
TRUST_HINT = f"; {TRUST_KEY}=true opens it anyway, if you trust whoever made it"


class CheckpointError(UserError):
    """A checkpoint that is unsafe to open or damaged; the message names the file and what is wrong."""


def is_allowed_global(module: str, name: str) -> bool:
    """Whether `module.name` is a class (or dtype) that a real checkpoint's metadata is made of."""
    if name in ALLOWED_GLOBALS.get(module, ()):
        return True
    return module == "torch" and "." not in name and isinstance(getattr(torch, name, None), torch.dtype)


class MetadataUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only ALLOWED_GLOBALS (and torch dtypes); others raise CheckpointError."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        if not is_allowed_global(module, name):
            raise CheckpointError(
                f"{self.path}: refusing to unpickle global {module}.{name}: checkpoint metadata "
                f"holds only torch.distributed.checkpoint classes, so this file could run code"
                f"{TRUST_HINT}"
            )
        return super().find_class(module, name)


def verify_checkpoint(path: str | os.PathLike, trust: bool = False) -> Metadata:
    """Raise CheckpointError unless the dist checkpoint `path` is data only and complete; return its metadata.

    trust=True skips the data-only checks (the allow-list unpickler and the weights-only loads), for a
    foreign checkpoint its user trusts; the backends, every shard and every item's extent are still checked.
    """
    path = Path(path)
    check_backends(path / BACKENDS_FILE)
    metadata = read_metadata(path / METADATA_FILE, trust=trust)
    shard_sizes: dict[str, int] = {}
    for index, info in metadata.storage_data.items():
        fqn = getattr(index, "fqn", index)
        shard = checked_shard(path, metadata_file=path / METADATA_FILE, fqn=fqn, info=info, sizes=shard_sizes)
        if not trust and isinstance(metadata.state_dict_metadata.get(fqn), BytesStorageMetadata):
            check_byte_item(shard, fqn, info)
    if not trust and (path / COMMON_FILE).is_file():
        check_weights_only(path / COMMON_FILE, (path / COMMON_FILE).read_bytes(), what="")
    return metadata


def check_backends(file: Path) -> None:
    """metadata.json, where present, must name the backends this project saves with (no other reader runs)."""
    if not file.is_file():
        return
    try:
        backends = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(backends, dict):
        raise CheckpointError(f"{file}: expected a JSON object, got {type(backends).__name__}")
    for key, expected in BACKENDS.items():
        if backends.get(key, expected) != expected:
            raise CheckpointError(f"{file}: {key} must be {expected!r}, got {backends[key]!r}")


def read_metadata(file: Path, trust: bool = False) -> Metadata:
    """The checkpoint's `.metadata`, unpickled with MetadataUnpickler (with plain pickle where trusted)."""
    if not file.is_file():
        raise CheckpointError(f"{file}: missing; {file.parent} is not a complete distributed checkpoint")
    try:
        with open(file, "rb") as stream:
            metadata = pickle.Unpickler(stream).load() if trust else MetadataUnpickler(stream, file).load()
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to parse is a damaged file, named as such
        raise CheckpointError(
            f"{file}: unreadable checkpoint metadata, truncated or corrupt ({type(err).__name__}: {first_line(err)})"
        ) from None
    if (
        not isinstance(metadata, Metadata)
        or not isinstance(metadata.storage_data, dict)
        or not isinstance(metadata.state_dict_metadata, dict)
    ):
        raise CheckpointError(f"{file}: holds a {type(metadata).__name__}, not torch's checkpoint Metadata")
    return metadata


def checked_shard(path: Path, metadata_file: Path, fqn, info, sizes: dict[str, int]) -> Path:
    """The shard file that holds item `fqn`, after checking that the item lies inside it."""
    if not (
        isinstance(info, _StorageInfo)
        and isinstance(info.relative_path, str)
        and isinstance(info.offset, int)
        and isinstance(info.length, int)
        and info.offset >= 0
        and info.length >= 0
    ):
        raise CheckpointError(f"{metadata_file}: item {fqn!r} has a malformed storage entry ({info!r})")
    name = info.relative_path
    if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise CheckpointError(f"{metadata_file}: item {fqn!r} points outside the checkpoint directory ({name!r})")
    shard = path / name
    if name not in sizes:
        if not shard.is_file():
            raise CheckpointError(f"{shard}: missing; the checkpoint metadata lists item {fqn!r} in it")
        sizes[name] = shard.stat().st_size
    end = info.offset + info.length
    if end > sizes[name]:
        raise CheckpointError(
            f"{shard}: truncated: {sizes[name]} bytes, but the checkpoint metadata places "
            f"item {fqn!r} at bytes {info.offset}-{end}"
        )
    return shard


def check_byte_item(shard: Path, fqn, info: _StorageInfo) -> None:
    """A byte item (torch.save output, later read with weights_only=False) must be plain weights-only data."""
    if info.transform_descriptors:
        raise CheckpointError(
            f"{shard}: item {fqn!r} is stored with transforms {list(info.transform_descriptors)}, "
            f"which this project does not write"
        )
    with open(shard, "rb") as stream:
        stream.seek(info.offset)
        data = stream.read(info.length)
    check_weights_only(shard, data, what=f"item {fqn!r}: ")


def check_weights_only(file: Path, data: bytes, what: str) -> None:
    """Load `data` (torch.save format) with torch's weights-only unpickler, naming `file` on failure."""
    try:
        with torch.serialization.safe_globals([io.BytesIO]):
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - refused global or damaged bytes: both are named, neither runs
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:
            raise CheckpointError(
                f"{file}: {what}refusing to unpickle global {found.group(1)}: checkpoint data "
                f"holds only tensors and plain values, so this file could run code"
                f"{TRUST_HINT}"
            ) from None
        raise CheckpointError(
            f"{file}: {what}unreadable, truncated or corrupt ({type(err).__name__}: {first_line(err)})"
        ) from None


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message, so every CheckpointError stays one line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else "no message"

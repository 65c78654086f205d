"""nemo_tabular.io: atomic files and directories with the umask's modes, and CSV/Parquet tables that name their file."""

import os
import stat
import sys
import threading

import pandas as pd
import pytest

from nemo_tabular import io
from nemo_tabular.io import TableError, TableWriter, read_table, replace_directory, swap_directory, write_text


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_text_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "notes.json"
    write_text(target, "old")
    write_text(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    assert sorted(p.name for p in target.parent.iterdir()) == ["notes.json"]


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_and_directories_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    write_text(tmp_path / "a.txt", "x")
    with TableWriter(tmp_path / "t.csv") as writer:
        writer.write(pd.DataFrame({"a": [1]}))
    with replace_directory(tmp_path / "d") as work:
        (work / "f").write_text("x")
    assert mode(tmp_path / "a.txt") == expected
    assert mode(tmp_path / "t.csv") == expected
    assert mode(tmp_path / "d") == expected | 0o111 & ~mask  # directories keep x where the umask allows it


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "notes.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk on fire"), io.atomic_path(target) as temporary:
        temporary.write_text("half of the new")
        raise RuntimeError("disk on fire")
    with pytest.raises(TypeError):
        write_text(target, b"not text")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_replace_directory_swaps_in_new_contents_and_cleans_up(tmp_path):
    target = tmp_path / "data"
    with replace_directory(target) as work:  # first time: nothing to replace
        assert work.parent == tmp_path and work.is_dir()
        (work / "old.txt").write_text("1")
    with replace_directory(target) as work:
        (work / "new.txt").write_text("2")
        assert (target / "old.txt").read_text() == "1"  # the old one stays until the new one is complete
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_a_failed_directory_build_keeps_the_old_directory(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "old.txt").write_text("1")
    with pytest.raises(RuntimeError, match="half way"), replace_directory(target) as work:
        (work / "new.txt").write_text("2")
        raise RuntimeError("half way")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_on_linux_the_swap_is_one_exchange_and_the_target_never_disappears(tmp_path, monkeypatch):
    def no_fallback(new, target):
        raise AssertionError("the two-rename fallback ran")

    monkeypatch.setattr(io, "_swap_by_renames", no_fallback)
    target = tmp_path / "bundle"
    target.mkdir()
    missing, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            if not target.is_dir():
                missing.append(True)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(200):
            new = tmp_path / f"new{i}"
            new.mkdir()
            (new / "round").write_text(str(i))
            swap_directory(new, target)
    finally:
        stop.set()
        watcher.join()
    assert not missing
    assert (target / "round").read_text() == "199"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_exchange_paths_swaps_two_directories_and_declines_a_missing_one(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "was_a").touch()
    if io._renameat2() is None:
        assert io.exchange_paths(first, second) is False
        return
    assert io.exchange_paths(first, second) is True
    assert [p.name for p in second.iterdir()] == ["was_a"] and not any(first.iterdir())
    assert io.exchange_paths(first, tmp_path / "nowhere") is False


def test_without_renameat2_two_renames_still_replace_the_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_renameat2", lambda: None)
    target = tmp_path / "data"
    target.mkdir()
    (target / "old.txt").write_text("1")
    with replace_directory(target) as work:
        (work / "new.txt").write_text("2")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_the_fallback_puts_the_old_directory_back_when_the_second_rename_fails(tmp_path, monkeypatch):
    target, new = tmp_path / "data", tmp_path / "new"
    target.mkdir()
    (target / "old.txt").touch()
    rename = os.rename

    def failing(source, destination):
        if source == new:
            raise OSError("no room")
        rename(source, destination)

    monkeypatch.setattr(io.os, "rename", failing)
    new.mkdir()
    with pytest.raises(OSError, match="no room"):
        io._swap_by_renames(new, target)
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "new"]


def test_tables_round_trip_through_csv_csv_gz_and_parquet(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    for name in ("t.csv", "t.csv.gz", "t.parquet", "t.pq"):
        path = tmp_path / name
        if name.endswith(".gz"):
            frame.to_csv(path, index=False)
        else:
            with TableWriter(path) as writer:
                writer.write(frame.iloc[:2])
                writer.write(frame.iloc[2:])
            assert writer.rows == 3
        pd.testing.assert_frame_equal(read_table(path, "test"), frame)
        assert io.table_columns(path, "test") == ["a", "b"]
        assert [len(c) for c in io.iter_table_chunks(path, 2)] == [2, 1]
    assert io.table_rows(tmp_path / "t.parquet") == 3 and io.table_rows(tmp_path / "t.csv") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.csv.gz", "t.parquet", "t.pq"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("nowhere.csv", None, "nowhere.csv: conditions file not found"),
        ("empty.csv", "", "empty.csv: conditions file is empty"),
        ("header.csv", "a,b\n", "header.csv: conditions file has no data rows"),
        (
            "table.json",
            "{}",
            r"table.json: conditions file has an unsupported format '.json'; use .csv, .csv.gz or .parquet",
        ),
        ("broken.parquet", "not parquet", r"broken.parquet: conditions file cannot be read \("),
    ],
)
def test_read_table_errors_name_the_file_and_its_role(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(TableError, match=message) as raised:
        read_table(path, "conditions")
    assert str(raised.value).startswith(str(path))


@pytest.mark.parametrize(
    "content, message", [("", "source file is empty"), ("a,b\n", "source file has a header but no data rows")]
)
def test_table_columns_refuses_files_without_rows(tmp_path, content, message):
    path = tmp_path / "s.csv"
    path.write_text(content)
    with pytest.raises(TableError, match=f"s.csv: {message}"):
        io.table_columns(path, "source")
    pd.DataFrame({"a": pd.Series([], dtype=int)}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(TableError, match="s.parquet: source file has no data rows"):
        io.table_columns(tmp_path / "s.parquet", "source")


def test_a_failed_table_write_keeps_the_old_file(tmp_path):
    out = tmp_path / "synth.parquet"
    pd.DataFrame({"a": [7]}).to_parquet(out)
    with pytest.raises(RuntimeError, match="stopped"), TableWriter(out) as writer:
        writer.write(pd.DataFrame({"a": [1, 2]}))
        raise RuntimeError("stopped")
    with pytest.raises(TableError, match="synth.parquet: nothing was written"), TableWriter(out):
        pass
    assert pd.read_parquet(out).a.tolist() == [7]
    assert [p.name for p in tmp_path.iterdir()] == ["synth.parquet"]
    with pytest.raises(TableError, match=r"synth.txt: output must end in .csv, .parquet or .pq"):
        TableWriter(tmp_path / "synth.txt")

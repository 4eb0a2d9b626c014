"""A path the user gives that is missing, or a folder where a file is expected, is refused by
every reader with an error that is a GraphEngineError and the built-in a Python user
catches (FileNotFoundError, IsADirectoryError), naming the path and how to make the file."""

import os

import numpy as np
import pytest

import graphengine as ge
from graphengine.errors import MissingFileError, NotAFileError, require_file, require_writable
from graphengine.training.checkpoint import load_weights, read_checkpoint, read_weights


def _graph():
    g = ge.Graph("net")
    x = g.input("x", shape=(None, 2))
    W = g.param("W", np.ones((2, 1)))
    x @ W
    return g


READERS = {
    "ge.load": (lambda p: ge.load(p), "graph file", "g.save(path)"),
    "read_weights": (lambda p: read_weights(p), "weights file", "save_weights"),
    "load_weights": (lambda p: load_weights(_graph(), p), "weights file", "save_weights"),
    "read_checkpoint": (lambda p: read_checkpoint(p), "checkpoint", "trainer.save_checkpoint(path)"),
    "read_idx": (lambda p: ge.data.read_idx(p), "IDX file", "load_mnist"),
    "read_idx_header": (lambda p: ge.data.read_idx_header(p), "IDX file", "load_mnist"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_missing_file_is_a_file_not_found_error_naming_the_path_and_the_fix(reader, tmp_path):
    read, what, fix = READERS[reader]
    path = tmp_path / "nothing.here"
    with pytest.raises(FileNotFoundError) as info:
        read(path)
    assert isinstance(info.value, ge.GraphEngineError)
    assert info.value.filename == str(path)
    message = str(info.value)
    assert message.startswith(f"{what} {str(path)!r} does not exist; ") and fix in message, message


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_folder_is_an_is_a_directory_error_listing_what_it_holds(reader, tmp_path):
    read, what, _ = READERS[reader]
    with pytest.raises(IsADirectoryError) as info:
        read(tmp_path)
    assert isinstance(info.value, ge.GraphEngineError)
    assert f"{what} {str(tmp_path)!r} is a directory, not a file" in str(info.value)


def test_save_format_readers_keep_their_error_class_for_a_folder(tmp_path):
    _graph().save(tmp_path / "model.ge")
    with pytest.raises(ge.SaveFormatError, match="is a directory, not a file; it holds 'model.ge'"):
        ge.load(tmp_path)
    with pytest.raises(ge.data.IDXFormatError):
        ge.data.read_idx(tmp_path)


def test_a_relative_path_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFileError, match=rf"'model.ge' does not exist \(looked in the current folder, "
                                               rf"{str(tmp_path)!r}\)"):
        ge.load("model.ge")
    with pytest.raises(MissingFileError, match=r"'runs/model.ge' does not exist \(the folder 'runs' does not exist "
                                               r"either\)"):
        ge.load("runs/model.ge")


def test_writing_into_a_missing_folder_or_onto_a_folder_is_refused_before_anything_is_written(tmp_path):
    g = _graph()
    with pytest.raises(FileNotFoundError, match=r"cannot write the graph to .*the folder .*runs' does not exist; "
                                                r"create it first \(os.makedirs"):
        g.save(tmp_path / "runs" / "model.ge")
    with pytest.raises(IsADirectoryError, match="cannot write the graph to .*: it is a directory; give a file name "
                                                "inside it, e.g. .*model.ge'"):
        g.save(tmp_path)
    with pytest.raises(MissingFileError, match="cannot write the IDX file"):
        ge.data.write_idx(tmp_path / "runs" / "x-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    assert os.listdir(tmp_path) == []


def test_require_file_returns_the_path_of_a_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x")
    assert require_file(path, "text file", "write one") == str(path)
    assert require_writable(tmp_path / "b.txt", "text", "b.txt") == str(tmp_path / "b.txt")
    assert require_writable("b.txt", "text", "b.txt") == "b.txt"  # the current folder exists


def test_something_that_is_not_a_regular_file_is_named(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotAFileError, match="is not a regular file"):
        require_file(fifo, "graph file", "save one")


def test_a_missing_dataset_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist train files .* not found") as info:
        ge.data.load_mnist("train", data_dir=tmp_path, download=False)
    assert isinstance(info.value, ge.data.DatasetError) and isinstance(info.value, ge.data.DatasetNotFoundError)


def test_nn_load_of_a_missing_model_file_is_a_graphengine_error(tmp_path):
    with pytest.raises(MissingFileError) as info:
        ge.nn.load(tmp_path / "model.genn")
    assert isinstance(info.value, FileNotFoundError) and "does not exist" in str(info.value)

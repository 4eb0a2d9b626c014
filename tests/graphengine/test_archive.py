"""A save file is only data: hostile or damaged ``.ge`` files and checkpoints are refused with a
SaveFormatError naming the member, before anything is executed or allocated."""

import io
import json
import re
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphengine as ge
from graphengine.archive import Limits, json_depth
from graphengine.training.checkpoint import read_weights


class KeywordScale(ge.Op):
    """An op whose forward takes free-form ``**attrs``: ``x * factor``."""

    name = "keyword_scale"

    def forward(self, xp, x, **attrs):
        return x * attrs.get("factor", 1.0)

    def backward(self, xp, grad, inputs, output, **attrs):
        return (grad * attrs.get("factor", 1.0),)

    def shape(self, x, **attrs):
        return x if float(attrs.get("factor", 1.0)) else x


class KeywordPlugin:
    @ge.hookimpl
    def register_ops(self, register):
        register(KeywordScale())


@pytest.fixture
def keyword_manager():
    manager = ge.PluginManager(entry_points=False)
    manager.add_plugin(KeywordPlugin(), name="keyword-scale")
    return manager


def build():
    g = ge.Graph("fuzzed")
    x = g.input("x", shape=(None, 3), dtype="float32")
    with g.scope("layer"):
        W = g.param("W", np.arange(6, dtype=np.float32).reshape(3, 2) / 10)
        b = g.param("b", np.ones(2, dtype=np.float32))
        h = ge.ops.tanh(x @ W + b)
    s = ge.ops.softmax(h[:, 0:2] * 2.0, axis=-1)
    ge.ops.sum(s, axis=(0, 1), name="total")
    return g


def members(path):
    with zipfile.ZipFile(path) as archive:
        return archive.read("graph.json"), archive.read("arrays.npz")


def write(path, graph_json, arrays_npz, extra=()):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("graph.json", graph_json)
        archive.writestr("arrays.npz", arrays_npz)
        for name, data in extra:
            archive.writestr(name, data)


def rewrite_json(path, change):
    graph_json, arrays_npz = members(path)
    document = json.loads(graph_json)
    change(document)
    write(path, json.dumps(document), arrays_npz)


def npy_header(shape, descr="<f8"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npz_of(**members_bytes):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as npz:
        for name, data in members_bytes.items():
            npz.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.ge"
    build().save(path)
    return path


# ------------------------------------------------------------------------ attribute names

@pytest.mark.parametrize("attr", ["a=open('/tmp/files_part_pwned','w').write('x'))#", "class", "_private", "xp",
                                  "out", "needs_grad", "grad", "not an identifier"])
def test_free_form_attribute_names_are_refused_on_load(tmp_path, keyword_manager, attr):
    g = ge.Graph("kw", plugins=keyword_manager)
    x = g.input("x", shape=(2,), dtype="float64")
    g.apply("keyword_scale", x, factor=3.0, name="scaled")
    path = tmp_path / "kw.ge"
    g.save(path)
    assert ge.load(path, plugins=keyword_manager).node("scaled").attrs == {"factor": 3.0}

    rewrite_json(path, lambda d: d["nodes"][1]["attrs"].__setitem__(attr, 1))
    with pytest.raises(ge.SaveFormatError, match=re.escape(f"node 'scaled' (op 'keyword_scale'): attribute name "
                                                           f"{attr!r} is refused")):
        ge.load(path, plugins=keyword_manager)


@pytest.mark.parametrize("attr", ["a=open('/tmp/files_part_pwned','w').write('x'))#", "class", "_private", "xp",
                                  "out", "needs_grad", "not an identifier"])
def test_names_a_file_may_not_hold_are_refused_at_build_too(tmp_path, keyword_manager, attr):
    # what builds also saves and loads: the load rule and the build rule are one
    g = ge.Graph("kw", plugins=keyword_manager)
    x = g.input("x", shape=(2,), dtype="float64")
    before = len(g)
    with pytest.raises(ge.GraphEngineError, match=re.escape(f"attribute name {attr!r} is refused for op "
                                                           f"'keyword_scale'")):
        g.apply("keyword_scale", x, **{attr: 1, "factor": 3.0})
    assert len(g) == before
    y = g.apply("keyword_scale", x, factor=3.0, scale_note=1)
    path = tmp_path / "kw.ge"
    g.save(path)
    assert ge.load(path, plugins=keyword_manager).node(y.name).attrs == {"factor": 3.0, "scale_note": 1}


def test_an_op_rule_failing_on_a_saved_value_is_a_save_format_error(tmp_path, keyword_manager):
    g = ge.Graph("kw", plugins=keyword_manager)
    g.apply("keyword_scale", g.input("x", shape=(2,), dtype="float64"), factor=3.0, name="scaled")
    path = tmp_path / "kw.ge"
    g.save(path)
    rewrite_json(path, lambda d: d["nodes"][1]["attrs"].__setitem__("factor", "many"))
    with pytest.raises(ge.SaveFormatError, match="node 'scaled' \\(op 'keyword_scale'\\) does not build: .*many"):
        ge.load(path, plugins=keyword_manager)


def test_an_attribute_the_op_does_not_declare_is_a_save_format_error(saved):
    def add_attribute(document):
        softmax = next(n for n in document["nodes"] if n.get("op") == "softmax")
        softmax["attrs"]["temperature"] = 2
    rewrite_json(saved, add_attribute)
    with pytest.raises(ge.SaveFormatError, match="attribute 'temperature' is not one op 'softmax' takes \\(axis\\)"):
        ge.load(saved)


# ------------------------------------------------------------------------ damaged archives

def test_a_flipped_byte_in_a_member_names_the_member(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("graph.json")
    # the compressed data starts after the 30-byte local header, the name and the extra field
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ge.SaveFormatError, match="member graph.json cannot be read, the file is damaged"):
        ge.load(saved)


@pytest.mark.parametrize("nodes, message", [
    ({"0": {}}, "field 'nodes' is a JSON dict, expected a list"),
    ([[0, "x", "input"]], r"nodes\[0\] is a JSON list, expected an object"),
    ([{"id": 0, "name": "x", "kind": "input", "scope": "", "shape": "big", "dtype": None}],
     "node 'x': shape 'big' is not a list"),
    ([{"id": 0, "name": "x", "kind": "input", "scope": "", "shape": None, "dtype": "object"}],
     "node 'x': dtype 'object' is not one of"),
    ([{"id": 5, "name": "x", "kind": "input", "scope": "", "shape": None, "dtype": None}],
     "id 5, expected 0"),
    ([{"id": 0, "name": "x", "kind": "lambda", "scope": "", "shape": None, "dtype": None}],
     "kind 'lambda' is not one of"),
])
def test_graph_json_of_the_wrong_shape_says_which_field(saved, nodes, message):
    rewrite_json(saved, lambda d: d.__setitem__("nodes", nodes))
    with pytest.raises(ge.SaveFormatError, match=message):
        ge.load(saved)


def test_two_graph_json_members_are_refused(saved):
    graph_json, arrays_npz = members(saved)
    with pytest.warns(UserWarning, match="Duplicate name"):
        write(saved, graph_json, arrays_npz, extra=[("graph.json", graph_json)])
    with pytest.raises(ge.SaveFormatError, match="duplicate member 'graph.json'"):
        ge.load(saved)


def test_deep_json_nesting_is_refused_without_recursion_error(saved):
    _, arrays_npz = members(saved)
    write(saved, "[" * 100_000 + "]" * 100_000, arrays_npz)
    with pytest.raises(ge.SaveFormatError, match="graph.json nests 100000 levels deep, over the limit of 64"):
        ge.load(saved)
    assert json_depth(b'{"a": "[[[[", "b": [[1], {"c": "}"}]}') == 3


def test_a_json_bomb_is_refused_before_it_is_inflated(saved):
    graph_json, arrays_npz = members(saved)
    write(saved, graph_json + b" " * (4 * 2**20), arrays_npz)  # 4 MiB of blanks compress to a few KiB
    with pytest.raises(ge.SaveFormatError, match=r"member graph.json declares \d+ uncompressed bytes, over the "
                                                 r"limit of 1048576 \(Limits.max_json_bytes\)"):
        ge.load(saved, limits=Limits(max_json_bytes=2**20))
    assert ge.load(saved).node("total") is not None  # within the default limits it loads


# ------------------------------------------------------------------------ arrays

def test_a_huge_npy_header_is_refused_before_allocation(saved):
    graph_json, _ = members(saved)
    document = json.loads(graph_json)
    for entry in document["nodes"]:
        if entry["name"] == "layer/W":
            entry["shape"], entry["dtype"] = [10**7, 10**7], "float64"
    npz = npz_of(**{"value.1.npy": npy_header((10**7, 10**7)) + bytes(64),
                    "value.2.npy": _npy(np.ones(2, np.float32))})
    write(saved, json.dumps(document), npz)
    prefix = r"member 'value.1.npy': header declares shape \(10000000, 10000000\) of float64 \(800000000000000 bytes\)"
    tracemalloc.start()
    try:
        with pytest.raises(ge.SaveFormatError, match=prefix + r", more array data than the limit allows"):
            ge.load(saved)
        with pytest.raises(ge.SaveFormatError, match=prefix + " but the member holds only 64 data bytes"):
            ge.load(saved, limits=Limits(max_array_bytes=10**16))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_declared_param_shapes_and_dtypes_are_checked_against_the_stored_arrays(saved):
    def reshape(document):
        document["nodes"][1]["shape"] = [2, 3]
    rewrite_json(saved, reshape)
    with pytest.raises(ge.SaveFormatError, match=r"member 'value.1.npy': holds an array of shape \(3, 2\) and dtype "
                                                 r"float32, but graph.json declares shape \(2, 3\) and dtype float32"):
        ge.load(saved)


def test_duplicate_and_unused_arrays_are_refused(saved):
    graph_json, arrays_npz = members(saved)
    with zipfile.ZipFile(io.BytesIO(arrays_npz)) as npz:
        w, b = npz.read("value.1.npy"), npz.read("value.2.npy")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as npz, pytest.warns(UserWarning, match="Duplicate name"):
        npz.writestr("value.1.npy", w)
        npz.writestr("value.2.npy", b)
        npz.writestr("value.1.npy", w)
    write(saved, graph_json, buffer.getvalue())
    with pytest.raises(ge.SaveFormatError, match="member 'value.1.npy' appears twice"):
        ge.load(saved)
    write(saved, graph_json, npz_of(**{"value.1.npy": w, "value.2.npy": b, "value.9.npy": b}))
    with pytest.raises(ge.SaveFormatError, match="member 'value.9.npy' is not used by any node"):
        ge.load(saved)
    write(saved, graph_json, npz_of(**{"value.1.npy": w}))
    with pytest.raises(ge.SaveFormatError, match="uses array 'value.2' that arrays.npz does not hold"):
        ge.load(saved)


def test_array_limits_are_configurable(saved):
    with pytest.raises(ge.SaveFormatError, match=r"Limits.max_array_bytes"):
        ge.load(saved, limits=Limits(max_array_bytes=0))
    with pytest.raises(ge.SaveFormatError, match=r"arrays.npz: the zip directory declares 2 members in \d+ bytes; "
                                                 r"Limits.max_arrays allows 1"):
        ge.load(saved, limits=Limits(max_arrays=1))


def test_a_huge_zip_directory_is_refused_before_zipfile_reads_it(saved):
    graph_json, arrays_npz = members(saved)
    write(saved, graph_json, arrays_npz, extra=[(f"junk{i}", b"") for i in range(5000)])
    tracemalloc.start()
    try:
        with pytest.raises(ge.SaveFormatError, match="the zip directory declares 5002 members in \\d+ bytes; "
                                                     "a graphengine save file may list at most 16"):
            ge.load(saved)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # zipfile would have built 5002 ZipInfo objects


# ------------------------------------------------------------------------ checkpoints

def test_weights_files_are_checked_like_save_files(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(npz_of(**{"W.npy": npy_header((10**7, 10**7)) + bytes(8)}))
    with pytest.raises(ge.SaveFormatError, match=r"weights file\): member 'W.npy': header declares shape"):
        read_weights(path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    path.write_bytes(npz_of(**{"W.npy": buffer.getvalue()}))
    with pytest.raises(ge.SaveFormatError, match="member 'W.npy': holds dtype object"):
        read_weights(path)
    path.write_bytes(npz_of(**{"W": _npy(np.ones(2))}))
    with pytest.raises(ge.SaveFormatError, match="member 'W' is not a .npy array"):
        read_weights(path)
    with pytest.raises(ge.SaveFormatError, match="is a directory"):
        read_weights(tmp_path)
    np.savez(path, W=np.arange(4.0).reshape(2, 2, order="F").T)
    np.testing.assert_array_equal(read_weights(path)["W"], np.arange(4.0).reshape(2, 2, order="F").T)


# ------------------------------------------------------------------------ fuzzing

FUZZ_LIMITS = Limits(max_json_bytes=2**16, max_json_depth=32, max_array_bytes=2**16, max_arrays=16)
# what one load may allocate at most: the limits above, a few copies of them, and the interpreter's own
FUZZ_PEAK = 8 * (FUZZ_LIMITS.max_json_bytes + FUZZ_LIMITS.max_array_bytes) + 4 * 2**20


def _valid_file():
    buffer = io.BytesIO()
    build().save(buffer)
    return buffer.getvalue()


VALID = _valid_file()


def _json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_paths(item, prefix + (index,))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.sampled_from(
        ["", "x", "float32", "object", "<f8", "value.1", "a=1)#", "class", "layer/W", "op", "matmul", "input"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["array", "tuple", "slice", "dict", "dtype", "ellipsis", "x", "a=1)#"]), inner, max_size=2),
    max_leaves=6,
)


def _load_checked(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.ge"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        graph = ge.load(path, limits=FUZZ_LIMITS)
    except ge.SaveFormatError:
        graph = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < FUZZ_PEAK
    if graph is not None:  # a correct load: exactly what graph.json says, arrays as stored
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("graph.json"))
        assert [(n.id, n.name, n.kind) for n in graph.nodes()] == \
            [(e["id"], e["name"], e["kind"]) for e in document["nodes"]]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.none() | st.integers(0, len(VALID)))
def test_fuzzed_bytes_give_a_save_format_error_or_a_correct_load(tmp_path_factory, edits, cut):
    data = bytearray(VALID)
    for position, value in edits:
        data[position] = value
    _load_checked(bytes(data[:cut]), tmp_path_factory)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_json_fields_give_a_save_format_error_or_a_correct_load(tmp_path_factory, data):
    graph_json, arrays_npz = members(io.BytesIO(VALID))
    document = json.loads(graph_json)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _json_paths(document) if p]
        where = data.draw(st.sampled_from(paths))
        parent = document
        for key in where[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(json_values)
    buffer = io.BytesIO()
    write(buffer, json.dumps(document), arrays_npz)
    _load_checked(buffer.getvalue(), tmp_path_factory)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_npy_headers_give_a_save_format_error_or_a_correct_load(tmp_path_factory, data):
    graph_json, arrays_npz = members(io.BytesIO(VALID))
    with zipfile.ZipFile(io.BytesIO(arrays_npz)) as npz:
        stored = {name: bytearray(npz.read(name)) for name in npz.namelist()}
    name = data.draw(st.sampled_from(sorted(stored)))
    member = stored[name]
    for _ in range(data.draw(st.integers(1, 3))):  # edits inside the header (the first 128 bytes)
        position = data.draw(st.integers(0, min(127, len(member) - 1)))
        member[position] = data.draw(st.sampled_from(b"0123456789(),'<>|fiuObV? "))
    buffer = io.BytesIO()
    write(buffer, graph_json, npz_of(**{k: bytes(v) for k, v in stored.items()}))
    _load_checked(buffer.getvalue(), tmp_path_factory)


@pytest.mark.parametrize("limits, message", [("x", "limits= takes a graphengine.archive.Limits"),
                                             (42, "limits= takes a graphengine.archive.Limits")])
def test_a_limits_argument_that_is_not_limits_is_refused_by_every_loader(tmp_path, saved, limits, message):
    from graphengine.archive import LimitsError
    with pytest.raises(LimitsError, match=message):
        ge.load(saved, limits=limits)
    model = ge.nn.Sequential(ge.nn.Dense(2, 2), seed=0)
    model.build((None, 2))
    model.save(tmp_path / "m.genn")
    with pytest.raises(LimitsError, match=message):
        ge.nn.load(tmp_path / "m.genn", limits=limits)


@pytest.mark.parametrize("field", ["max_json_bytes", "max_json_depth", "max_array_bytes", "max_arrays"])
@pytest.mark.parametrize("value", [-1, 1.5, "10", True])
def test_limits_are_ints_of_zero_or_more(field, value):
    from graphengine.archive import Limits, LimitsError
    with pytest.raises(LimitsError, match=f"Limits\\({field}="):
        Limits(**{field: value})


def _npz_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, raw in members.items():
            z.writestr(name, raw)
    return buffer.getvalue()


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def test_npy_members_with_bytes_beyond_their_header_are_refused():
    from graphengine.archive import read_npz
    raw = _npz_bytes({"a.npy": _npy_bytes(np.arange(3.0)) + b"\0" * 8})
    with pytest.raises(ge.SaveFormatError, match=r"header declares shape \(3,\) of float64 \(24 bytes\) but the "
                                                 r"member holds 32 data bytes"):
        read_npz(raw, "test")


def test_big_endian_arrays_load_in_this_machines_byte_order():
    from graphengine.archive import read_npz
    raw = _npz_bytes({"a.npy": _npy_bytes(np.arange(3.0).astype(">f8"))})
    array = read_npz(raw, "test")["a"]
    assert array.dtype.isnative and array.dtype == np.float64 and array.tolist() == [0.0, 1.0, 2.0]

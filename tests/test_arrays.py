import numpy as np
import pytest

import bridge
from bridge.errors import DataError

DTYPES = [
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.int32,
    np.int16,
    np.int8,
    np.uint64,
    np.uint32,
    np.uint16,
    np.uint8,
    np.bool_,
]
SHAPES = [(), (0,), (0, 784), (7,), (3, 5), (2, 3, 4), (2, 1, 3, 2, 2)]


def _random(rng, shape, dtype):
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_round_trip_keeps_values_shape_and_dtype(rng, shape, dtype):
    original = _random(rng, shape, dtype)
    back = bridge.to_numpy(bridge.to_indarray(original))
    assert back.dtype == original.dtype
    assert back.shape == original.shape
    np.testing.assert_array_equal(back, original)


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "big-endian", "read-only"])
def test_round_trip_of_non_c_contiguous_inputs(rng, layout):
    base = rng.standard_normal((6, 8)).astype(np.float32)
    array = {
        "fortran": np.asfortranarray(base),
        "strided": base[::2, 1::3],
        "transposed": base.T,
        "big-endian": base.astype(">f4"),
        "read-only": base.copy(),
    }[layout]
    if layout == "read-only":
        array.flags.writeable = False
    back = bridge.to_numpy(bridge.to_indarray(array))
    np.testing.assert_array_equal(back, array)
    assert back.flags.c_contiguous


def test_indarray_is_a_copy_not_a_view_of_numpy_memory():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    ind = bridge.to_indarray(array)
    array[:] = -1
    np.testing.assert_array_equal(bridge.to_numpy(ind), np.arange(12, dtype=np.float32).reshape(3, 4))


def test_f_ordered_input_arrives_with_the_right_element_order():
    array = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    ind = bridge.to_indarray(array)
    import jpype

    assert float(ind.getDouble(jpype.JArray(jpype.JLong)([1, 0]))) == 3.0  # element [1, 0], whatever the memory order


def test_to_numpy_of_java_views_and_transposes():
    from bridge.jvm import jclass

    ind = bridge.to_indarray(np.arange(20, dtype=np.float32).reshape(4, 5))
    interval = jclass("org.nd4j.linalg.indexing.NDArrayIndex").interval(1, 3)
    np.testing.assert_array_equal(bridge.to_numpy(ind.get(interval)), np.arange(5, 15, dtype=np.float32).reshape(2, 5))
    np.testing.assert_array_equal(bridge.to_numpy(ind.transpose()), np.arange(20, dtype=np.float32).reshape(4, 5).T)


def test_large_array_round_trip():
    array = np.random.default_rng(0).random((60000, 784), dtype=np.float32)
    np.testing.assert_array_equal(bridge.to_numpy(bridge.to_indarray(array)), array)


@pytest.mark.parametrize(
    "bad", [np.zeros(3, np.complex64), np.array(["a", "b"]), np.array([object()])], ids=["complex", "str", "object"]
)
def test_unsupported_dtype_is_refused_clearly(bad):
    with pytest.raises(DataError, match="no type for"):
        bridge.to_indarray(bad)


def test_to_numpy_refuses_non_indarrays():
    with pytest.raises(DataError, match="INDArray"):
        bridge.to_numpy(np.zeros(3))


def test_zero_copy_view_shares_memory_and_keeps_the_indarray_alive():
    import gc

    ind = bridge.to_indarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    view = bridge.to_numpy(ind, copy=False)
    del ind
    gc.collect()
    from bridge.jvm import jclass

    jclass("java.lang.System").gc()
    np.testing.assert_array_equal(view, np.arange(12, dtype=np.float32).reshape(3, 4))
    view[0, 0] = 42.0
    import jpype

    assert float(view.base.indarray.getFloat(jpype.JLong(0))) == 42.0


def test_zero_copy_view_refuses_java_views():
    ind = bridge.to_indarray(np.arange(20, dtype=np.float32).reshape(4, 5))
    with pytest.raises(DataError, match="copy=True"):
        bridge.to_numpy(ind.transpose(), copy=False)


def test_to_numpy_into_a_preallocated_array(rng):
    original = rng.standard_normal((5, 7)).astype(np.float32)
    target = np.zeros_like(original)
    assert bridge.to_numpy(bridge.to_indarray(original), out=target) is target
    np.testing.assert_array_equal(target, original)
    with pytest.raises(DataError, match="`out` must be"):
        bridge.to_numpy(bridge.to_indarray(original), out=np.zeros((7, 5), np.float32))


def test_to_indarray_into_an_existing_indarray(rng):
    original = rng.standard_normal((4, 6)).astype(np.float32)
    target = bridge.to_indarray(np.zeros_like(original))
    assert bridge.to_indarray(original, out=target) is target
    np.testing.assert_array_equal(bridge.to_numpy(target), original)
    with pytest.raises(DataError, match="`out` must be"):
        bridge.to_indarray(original.astype(np.float64), out=target)


@pytest.mark.parametrize("how", ["copy", "out", "view-refused"])
def test_permuted_indarrays_are_read_by_their_strides(how):
    """A permute that ND4J reports as order 'c', no view, full buffer (DL4J's NHWC layer outputs are such arrays)."""
    import jpype

    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    permuted = bridge.to_indarray(values).permute(jpype.JArray(jpype.JInt)([0, 2, 1]))
    assert str(permuted.ordering()) == "c" and not permuted.isView()  # what made the old check take it as plain
    expected = values.transpose(0, 2, 1)
    if how == "copy":
        np.testing.assert_array_equal(bridge.to_numpy(permuted), expected)
    elif how == "out":
        target = np.zeros((2, 4, 3), np.float32)
        np.testing.assert_array_equal(bridge.to_numpy(permuted, out=target), expected)
    else:
        with pytest.raises(DataError, match="copy=True"):
            bridge.to_numpy(permuted, copy=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_wrapped_indarray_shares_numpy_memory_both_ways(rng, dtype, order):
    array = np.asarray(rng.integers(-100, 100, size=(3, 4, 5)), dtype=dtype, order=order)
    expected = array.copy()
    wrapped = bridge.to_indarray(array, copy=False)
    np.testing.assert_array_equal(bridge.to_numpy(wrapped), expected)
    array[1, 2, 3] = 77  # numpy's write is seen by ND4J: the same memory
    assert float(wrapped.sumNumber()) == float(expected.sum() - expected[1, 2, 3] + 77)
    wrapped.muli(2)  # ND4J's in-place write lands in numpy's array
    assert array[1, 2, 3] == 154 and array[0, 0, 0] == 2 * expected[0, 0, 0]


def test_wrapped_indarray_keeps_the_numpy_array_alive_until_it_is_collected():
    import gc
    import time
    import weakref

    from bridge.jvm import jclass

    array = np.arange(1000, dtype=np.float32)
    alive = weakref.ref(array)
    wrapped = bridge.to_indarray(array, copy=False)
    del array
    gc.collect()
    assert alive() is not None  # the INDArray still holds numpy's memory
    assert float(wrapped.sumNumber()) == float(np.arange(1000).sum())
    del wrapped
    for _ in range(50):  # Java's Cleaner drops the owner once the INDArray's buffer is collected
        jclass("java.lang.System").gc()
        gc.collect()
        if alive() is None:
            break
        time.sleep(0.1)
    assert alive() is None


def test_wrapped_indarrays_work_in_nd4j_ops(rng):
    a, b = rng.random((64, 784), dtype=np.float32), rng.random((784, 10), dtype=np.float32)
    product = bridge.to_indarray(a, copy=False).mmul(bridge.to_indarray(b, copy=False))
    np.testing.assert_allclose(bridge.to_numpy(product), a @ b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("array", "says"),
    [
        (np.zeros((2, 3), np.float16), "float16"),
        (np.zeros((2, 3), np.uint8), "uint8"),
        (np.zeros((0, 3), np.float32), "non-empty"),
        (np.float32(1.0), "non-empty"),
        (np.zeros((4, 6), np.float32)[:, ::2], "contiguous"),
        (np.zeros((2, 3), ">f4"), "native byte order"),
    ],
)
def test_wrapping_refuses_what_nd4j_cannot_wrap(array, says):
    with pytest.raises(DataError, match=says):
        bridge.to_indarray(array, copy=False)


def test_wrapping_refuses_read_only_arrays_and_out():
    frozen = np.zeros((2, 3), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(DataError, match="writable"):
        bridge.to_indarray(frozen, copy=False)
    with pytest.raises(DataError, match="not both"):
        bridge.to_indarray(np.zeros(3, np.float32), out=bridge.to_indarray(np.zeros(3, np.float32)), copy=False)

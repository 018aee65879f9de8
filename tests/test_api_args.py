"""Bad arguments to the Python API are `UsageError`s (or `InceptError`s), never a TypeError,
KeyError, AttributeError or NameError from deep inside."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.api import load, loads
from incept_dsl.errors import UsageError

SRC = """model t(classes = 10) {
    input x: 3x32x32
    a = x -> conv(8, 3) -> batchnorm -> relu
    output y = a -> avgpool(global) -> flatten -> linear(classes)
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "t.incept"
    path.write_text(SRC)
    return path


@pytest.fixture(scope="module")
def model():
    return loads(SRC)


def _state(model, change):
    state = dict(model.to_torch().state_dict())
    change(state)
    return state


def _first_weight(state):
    return next(k for k in state if k.endswith(".weight"))


BAD_MODEL_CALLS = {
    "to_torch opt 5": lambda m: m.to_torch(opt_level=5),
    "to_torch opt '1'": lambda m: m.to_torch(opt_level="1"),
    "to_torch opt None": lambda m: m.to_torch(opt_level=None),
    "to_torch opt True": lambda m: m.to_torch(opt_level=True),
    "optimized 7": lambda m: m.optimized(7),
    "torch_source opt 7": lambda m: m.torch_source(opt_level=7),
    "to_torch init bad": lambda m: m.to_torch(init="bad"),
    "torch_source init bad": lambda m: m.torch_source(init="bad"),
    "to_onnx path 3": lambda m: m.to_onnx(3),
    "to_onnx opt 9": lambda m: m.to_onnx(opt_level=9),
    "to_dot font 3": lambda m: m.to_dot(font=3),
    "to_dot block 3": lambda m: m.to_dot(block=3),
    "to_dot foo": lambda m: m.to_dot(foo=1),
    "summary foo": lambda m: m.summary(foo=1),
    "summary by 3": lambda m: m.summary(by=3),
    "loss None": lambda m: m.loss(None, None),
}

BAD_STATE_CALLS = {
    "string": lambda m, lvl: m.to_torch(opt_level=lvl, state_dict="weights.pt"),
    "wrong keys": lambda m, lvl: m.to_torch(opt_level=lvl, state_dict={"nope": 1}),
    "None value": lambda m, lvl: m.to_torch(
        opt_level=lvl, state_dict=_state(m, lambda s: s.__setitem__(_first_weight(s), None))
    ),
    "wrong shape": lambda m, lvl: m.to_torch(
        opt_level=lvl,
        state_dict=_state(m, lambda s: s.__setitem__(_first_weight(s), s[_first_weight(s)][:1])),
    ),
    "int dtype": lambda m, lvl: m.to_torch(
        opt_level=lvl,
        state_dict=_state(m, lambda s: s.__setitem__(_first_weight(s), s[_first_weight(s)].long())),
    ),
    "meta tensor": lambda m, lvl: m.to_torch(
        opt_level=lvl,
        state_dict=_state(
            m, lambda s: s.__setitem__(_first_weight(s), s[_first_weight(s)].to("meta"))
        ),
    ),
}

BAD_LOAD_CALLS = {
    "shape of str": lambda p: load(p, input_shape=("3", "32", "32")),
    "shape with None": lambda p: load(p, input_shape=(None, 32, 32)),
    "shape int": lambda p: load(p, input_shape=32),
    "shape nan": lambda p: load(p, input_shape=(3, math.nan, 32)),
    "shape float": lambda p: load(p, input_shape=(3, 32.5, 32)),
    "shape zero": lambda p: load(p, input_shape=(0, 32, 32)),
    "shape bool": lambda p: load(p, input_shape=(True, 32, 32)),
    "shape two dims": lambda p: load(p, input_shape=(32, 32)),
    "path None": lambda p: load(None),
    "path int": lambda p: load(3),
    "path bytes": lambda p: load(b"t.incept"),
    "path list": lambda p: load(["t.incept"]),
    "path empty": lambda p: load(""),
    "model int": lambda p: load(p, model=3),
    "params int key": lambda p: load(p, params={3: 5}),
    "params pairs": lambda p: load(p, params=[("classes", 3)]),
    "params text": lambda p: load(p, params="classes=3"),
    "load_all params text": lambda p: incept_dsl.api.load_all(p, params="classes=3"),
    "loads None": lambda p: loads(None),
    "loads int": lambda p: loads(5),
    "loads bytes": lambda p: loads(SRC.encode()),
    "loads surrogate": lambda p: loads(SRC + "# \udcff\n"),
    "loads name int": lambda p: loads(SRC, name=3),
    "loads base_dir int": lambda p: loads(SRC, base_dir=3),
}


@pytest.mark.parametrize("call", BAD_MODEL_CALLS.values(), ids=BAD_MODEL_CALLS)
def test_bad_model_call_is_usage_error(model, call) -> None:
    with pytest.raises(UsageError):
        call(model)


@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("call", BAD_STATE_CALLS.values(), ids=BAD_STATE_CALLS)
def test_bad_state_dict_is_usage_error(model, call, level) -> None:
    with pytest.raises(UsageError):
        call(model, level)


@pytest.mark.parametrize("call", BAD_LOAD_CALLS.values(), ids=BAD_LOAD_CALLS)
def test_bad_load_call_is_usage_error(program, call) -> None:
    with pytest.raises(UsageError):
        call(program)


def test_messages(model) -> None:
    with pytest.raises(UsageError, match="opt_level must be 0, 1 or 2"):
        model.to_torch(opt_level=5)
    with pytest.raises(UsageError, match="fan_in"):
        model.to_torch(init="bad")
    with pytest.raises(UsageError, match="not valid Unicode"):
        loads(SRC + "# \udcff\n")
    state = dict(model.to_torch().state_dict())
    key = _first_weight(state)
    state[key] = None
    with pytest.raises(UsageError, match=key.replace(".", r"\.")):
        model.to_torch(opt_level=1, state_dict=state)


def test_good_calls_still_work(program) -> None:
    m = load(program, input_shape=(3, 64, 64), params={"classes": "5"})
    assert m.inputs == {"x": (3, 64, 64)}
    assert load(str(program), input_shape="3x48x48").inputs == {"x": (3, 48, 48)}
    state = m.to_torch().state_dict()
    for level in (0, 1, 2):
        m.to_torch(opt_level=level, state_dict=state)
    m.to_dot(font="Arial", depth=2)
    m.summary(by="block")

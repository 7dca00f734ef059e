"""The extension declares that it needs the GIL, so free-threaded Python keeps it on."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

#: `Py_mod_gil` and `Py_MOD_GIL_USED` from CPython's moduleobject.h (3.13+).
PY_MOD_GIL = 4
PY_MOD_GIL_USED = 0


class _Slot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]


class _ModuleDef(ctypes.Structure):
    _fields_ = [
        ("m_base", ctypes.c_byte * (5 * ctypes.sizeof(ctypes.c_void_p))),
        ("m_name", ctypes.c_char_p),
        ("m_doc", ctypes.c_char_p),
        ("m_size", ctypes.c_ssize_t),
        ("m_methods", ctypes.c_void_p),
        ("m_slots", ctypes.POINTER(_Slot)),
    ]


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Py_mod_gil exists from Python 3.13")
def test_module_definition_declares_the_gil_used() -> None:
    """The module's Py_mod_gil slot says Py_MOD_GIL_USED (what a free-threaded build reads)."""
    from ferrolog import _native

    get_def = ctypes.pythonapi.PyModule_GetDef
    get_def.restype = ctypes.POINTER(_ModuleDef)
    get_def.argtypes = [ctypes.py_object]
    slots = get_def(_native).contents.m_slots
    declared = {}
    i = 0
    while slots[i].slot != 0:
        declared[slots[i].slot] = slots[i].value or 0
        i += 1
    assert declared.get(PY_MOD_GIL) == PY_MOD_GIL_USED


@pytest.mark.skipif(
    not hasattr(sys, "_is_gil_enabled"), reason="needs a free-threaded-capable Python (3.13t)"
)
def test_a_free_threaded_interpreter_keeps_the_gil_on_after_import() -> None:
    """Importing ferrolog on free-threaded Python leaves the GIL enabled."""
    out = subprocess.run(
        [sys.executable, "-c", "import ferrolog, sys; print(sys._is_gil_enabled())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"

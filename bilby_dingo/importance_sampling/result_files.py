"""Reading bilby result files from elsewhere without letting them run code.

bilby's reader unpickles ``.pkl`` results, and in ``.json``/``.hdf5`` results it imports and calls the
class each object names (``{"__prior__": true, "__module__": ..., "__name__": ..., "kwargs": ...}`` is
read as ``module.name(**kwargs)``): a crafted file can name any function. Before bilby reads a file,
:func:`read_result` accepts only ``.hdf5``/``.h5``/``.json`` and checks every object the file names:
classes that bilby calls must be bilby priors, prior dictionaries or results; functions and classes it
only looks up must come from bilby or from a module already imported (nothing new is imported).
"""

import inspect
import json
import os
import sys
from importlib import import_module

import bilby

from ..errors import ResultFileError

RESULT_EXTENSIONS = (".hdf5", ".h5", ".json")


def check_result_path(path):
    """Raise :class:`ResultFileError` unless ``path`` is an existing .hdf5/.h5/.json file (nothing is read)."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in RESULT_EXTENSIONS:
        raise ResultFileError(
            f"{path}: only {'/'.join(RESULT_EXTENSIONS)} results are read (a {extension or 'extensionless'} file "
            f"may be a pickle, and reading a pickle can run code). Save the runs as hdf5 (save='hdf5'; bilby_pipe: "
            f"result-format = hdf5), or convert a result you trust with bilby's own tools.")
    if not os.path.isfile(path):
        raise ResultFileError(f"{path} does not exist.")


def read_result(path):
    """``bilby.read_in_result(path)`` after checking that the file names no code to run."""
    check_result_path(path)
    for where, mapping in _named_objects(path):
        _check_reference(path, where, mapping)
    return bilby.read_in_result(path)


def _named_objects(path):
    """(location, dict) for every dict in the file that names a module, as bilby's reader would see it."""
    if path.lower().endswith(".json"):
        try:
            with open(path) as stream:
                content = json.load(stream)
        except (OSError, ValueError) as error:
            raise ResultFileError(f"{path} is not a readable JSON result: {error}") from None
        yield from _walk(content, "")
        return
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ResultFileError(f"{path} is not a readable HDF5 result: {error}") from None
    with handle:
        if "__module__" in handle or "__name__" in handle:
            yield "/", {"__result__": True, "__module__": _text(handle.get("__module__")),
                        "__name__": _text(handle.get("__name__"))}
        datasets = []
        handle.visititems(lambda name, item: datasets.append((name, item)) if isinstance(item, h5py.Dataset) else None)
        for name, dataset in datasets:
            text = _text(dataset)
            if isinstance(text, str) and text.lstrip()[:1] in ("{", "["):
                try:
                    content = json.loads(text)
                except ValueError:
                    continue
                yield from _walk(content, f"/{name}")


def _text(dataset):
    if dataset is None or dataset.shape != ():
        return None
    value = dataset[()]
    return value.decode(errors="replace") if isinstance(value, bytes) else value if isinstance(value, str) else None


def _walk(value, where):
    if isinstance(value, dict):
        if "__module__" in value:
            yield where or "/", value
        for key, item in value.items():
            yield from _walk(item, f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")


def _check_reference(path, where, mapping):
    module, name = mapping.get("__module__"), mapping.get("__name__")
    named = f"{module}.{name}"
    if not isinstance(module, str) or not isinstance(name, str):
        raise ResultFileError(f"{path}: the object at {where} names a module that is not a string ({named}).")
    from_bilby = module == "bilby" or module.startswith("bilby.")
    if not from_bilby and module not in sys.modules:
        raise ResultFileError(
            f"{path}: the object at {where} names {named}, from a module that is neither bilby's nor already "
            f"imported; reading the file would import it. Refusing to read a result that names code from elsewhere.")
    called = [(flag, base) for flag, base in (("__prior__", bilby.core.prior.Prior),
                                               ("__prior_dict__", bilby.core.prior.PriorDict),
                                               ("__result__", bilby.core.result.Result)) if mapping.get(flag)]
    if not called:
        return  # a function or class bilby only looks up (a conversion function): nothing is called
    base = called[0][1]
    try:
        target = getattr(import_module(module) if from_bilby else sys.modules[module], name, None)
    except ImportError:
        target = None
    if not (inspect.isclass(target) and issubclass(target, base)):
        raise ResultFileError(
            f"{path}: the object at {where} asks bilby's reader to call {named}, which is not a bilby "
            f"{base.__name__}. Refusing to read a result that would run code from the file.")

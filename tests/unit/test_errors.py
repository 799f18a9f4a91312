"""Every error class bilby_dingo raises derives from BilbyDingoError and keeps its built-in base."""

import inspect

import pytest

import bilby_dingo
from bilby_dingo import errors


def error_classes():
    return [value for _, value in inspect.getmembers(errors, inspect.isclass) if issubclass(value, Exception)]


@pytest.mark.parametrize("error", error_classes(), ids=lambda error: error.__name__)
def test_error_is_exported_under_the_common_base(error):
    assert issubclass(error, errors.BilbyDingoError)
    assert getattr(bilby_dingo, error.__name__) is error and error.__name__ in bilby_dingo.__all__


@pytest.mark.parametrize("error", [e for e in error_classes() if e is not errors.BilbyDingoError],
                         ids=lambda error: error.__name__)
def test_error_keeps_a_builtin_base(error):
    # Callers that caught ValueError or RuntimeError before the hierarchy existed still catch these.
    assert issubclass(error, (ValueError, RuntimeError))


def test_every_error_class_in_the_package_derives_from_the_base():
    import importlib
    import pkgutil

    outside = []
    for module_info in pkgutil.walk_packages(bilby_dingo.__path__, prefix="bilby_dingo."):
        module = importlib.import_module(module_info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if (value.__module__ == module.__name__ and issubclass(value, Exception)
                    and not issubclass(value, errors.BilbyDingoError)):
                outside.append(f"{module.__name__}.{name}")
    assert not outside, (f"{outside} do not derive from bilby_dingo.errors.BilbyDingoError: define them in "
                         f"bilby_dingo/errors.py (or derive them from a class there) so `except BilbyDingoError` "
                         f"catches them.")

"""Reading the prior strings a model file stores, without evaluating code.

A model file stores its training prior as bilby's prior strings (``str(prior)``, e.g.
``Uniform(minimum=20, maximum=50, name='chirp_mass', ...)``). bilby's own parser imports whatever
module a string names and calls whatever it finds there, so a crafted model file could run code when
its priors are read. Here a string is parsed with Python's :mod:`ast` and accepted only as a call of a
whitelisted bilby prior class whose arguments are literals: numbers, strings, True/False/None, lists,
tuples and dicts of those, ``pi``/``inf``/``nan`` (also as ``np.pi``...), a sign, + - * / between
numbers, and other whitelisted priors (``AlignedSpin(a_prior=Uniform(...), ...)``). Nothing is
imported and nothing else is called.
"""

import ast
import math

import bilby

from .errors import PriorStringError

__all__ = ["PriorStringError", "PRIOR_CLASSES", "parse_prior_string", "parse_prior_strings"]


# Unconditional bilby priors whose arguments are numbers, strings or other priors (no functions, no files).
_CORE = [
    "Beta", "Categorical", "Cauchy", "ChiSquared", "Constraint", "Cosine", "DeltaFunction", "DiscreteValues",
    "Exponential", "FermiDirac", "Gamma", "Gaussian", "HalfGaussian", "HalfNormal", "LogGaussian", "LogNormal",
    "LogUniform", "Logistic", "Lorentzian", "Normal", "PowerLaw", "Sine", "SlabSpikePrior", "StudentT",
    "SymmetricLogUniform", "Triangular", "TruncatedGaussian", "TruncatedNormal", "Uniform", "WeightedCategorical",
    "WeightedDiscreteValues",
]
_GW = ["AlignedSpin", "UniformComovingVolume", "UniformInComponentsChirpMass", "UniformInComponentsMassRatio",
       "UniformSourceFrame"]
PRIOR_CLASSES = {
    **{name: getattr(bilby.core.prior, name) for name in _CORE if hasattr(bilby.core.prior, name)},
    **{name: getattr(bilby.gw.prior, name) for name in _GW if hasattr(bilby.gw.prior, name)},
}
# Where bilby's str(prior) says a class lives: "Uniform(...)", "bilby.gw.prior.AlignedSpin(...)", or a submodule.
_MODULES = ("bilby.core.prior", "bilby.gw.prior")
_CONSTANTS = {"pi": math.pi, "inf": math.inf, "nan": math.nan}
_NUMPY = ("np", "numpy")
_ARITHMETIC = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
               ast.Div: lambda a, b: a / b}


def parse_prior_string(text):
    """The bilby prior a stored prior string describes; never evaluates code.

    Parameters
    ----------
    text: str or float
        ``"Uniform(minimum=20, maximum=50, name='chirp_mass')"``, ``"bilby.gw.prior.AlignedSpin(...)"``, or a
        number (a fixed parameter, as bilby reads it: a DeltaFunction).

    Raises
    ------
    PriorStringError
        Anything but a whitelisted prior class (:data:`PRIOR_CLASSES`) called with literal arguments.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return bilby.core.prior.DeltaFunction(peak=float(text))
    if not isinstance(text, str):
        raise PriorStringError(f"A prior must be given as a string, got {type(text).__name__} {text!r}.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise PriorStringError(f"{text!r} is not a prior expression: {error.msg}.") from None
    node = tree.body
    if _is_number(node):
        return bilby.core.prior.DeltaFunction(peak=float(_literal(node, text)))
    if not isinstance(node, ast.Call):
        raise PriorStringError(f"{text!r} is not a prior: expected a bilby prior class called with literal "
                               f"arguments, e.g. Uniform(minimum=20, maximum=50, name='chirp_mass').")
    return _prior(node, text)


def parse_prior_strings(priors):
    """{key: bilby prior} from {key: prior string}; an error names the key."""
    parsed = {}
    for key, text in priors.items():
        try:
            parsed[key] = parse_prior_string(text)
        except PriorStringError as error:
            raise PriorStringError(f"The prior of '{key}': {error}") from None
    return parsed


def _prior(call, text):
    name = _class_name(call.func, text)
    if name not in PRIOR_CLASSES:
        raise PriorStringError(
            f"{text!r} calls {name!r}, which is not one of the bilby prior classes a stored prior may use: "
            f"{sorted(PRIOR_CLASSES)}.")
    args = []
    for argument in call.args:
        if isinstance(argument, ast.Starred):
            raise PriorStringError(f"{text!r}: unpacking (*args) is not allowed in a prior string.")
        args.append(_literal(argument, text))
    kwargs = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise PriorStringError(f"{text!r}: unpacking (**kwargs) is not allowed in a prior string.")
        kwargs[keyword.arg] = _literal(keyword.value, text)
    try:
        return PRIOR_CLASSES[name](*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise PriorStringError(f"{text!r}: bilby's {name} does not accept these arguments ({error}).") from None


def _class_name(func, text):
    """'Uniform' from Uniform, bilby.core.prior.Uniform or bilby.gw.prior.analytical-style dotted paths."""
    if isinstance(func, ast.Name):
        return func.id
    called, parts = ast.unparse(func), []
    while isinstance(func, ast.Attribute):
        parts.insert(0, func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.insert(0, func.id)
        module = ".".join(parts[:-1])
        if any(module == allowed or module.startswith(allowed + ".") for allowed in _MODULES):
            return parts[-1]
    raise PriorStringError(f"{text!r} calls {called!r}, which is not a bilby prior class (a bare name such as "
                           f"Uniform, or bilby.core.prior.X / bilby.gw.prior.X).")


def _is_number(node):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _literal(node, text):
    """The value of an argument node: literals, named constants, arithmetic on numbers, or a nested prior."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float, str))):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in _NUMPY
            and node.attr in _CONSTANTS):
        return _CONSTANTS[node.attr]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _number(_literal(node.operand, text), node, text) * (-1 if isinstance(node.op, ast.USub) else 1)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _number(_literal(node.left, text), node, text), _number(_literal(node.right, text), node, text)
        return _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_literal(element, text) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise PriorStringError(f"{text!r}: unpacking (**) is not allowed in a prior string.")
        return {_literal(key, text): _literal(value, text) for key, value in zip(node.keys, node.values)}
    if isinstance(node, ast.Call):
        return _prior(node, text)
    raise PriorStringError(
        f"{text!r} contains {ast.unparse(node)!r}, which is not a literal: a stored prior's arguments may only be "
        f"numbers, strings, True/False/None, pi/inf/nan, lists, tuples, dicts and other bilby priors.")


def _number(value, node, text):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PriorStringError(f"{text!r}: {ast.unparse(node)!r} applies arithmetic to a non-number.")
    return value

"""Symphony's exceptions form two trees with unique names, each drawn in one docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict

import symphony
import symphony.actors._errors as actor_errors
import symphony.errors
from symphony.actors import ActorError, sole_exception
from symphony.errors import SymphonyError

ROOTS = {ActorError, SymphonyError}


def our_exceptions() -> set[type[BaseException]]:
    """Every exception class defined in a symphony module (all modules imported)."""
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(symphony.__path__, "symphony."):
        if info.name.endswith("__main__"):
            continue  # running it is what importing it does
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("symphony.")
            ):
                found.add(value)
    return found


def root_of(cls: type[BaseException]) -> type[BaseException]:
    """The last class of ``cls``'s MRO that Symphony defines."""
    ours = [c for c in cls.__mro__ if c.__module__.startswith("symphony.")]
    return ours[-1]


def test_exception_tree_has_at_most_two_roots() -> None:
    found = our_exceptions()
    assert len(found) > 40  # the walk really saw the packages
    roots = {root_of(cls) for cls in found}
    assert roots <= ROOTS, sorted(f"{r.__module__}.{r.__qualname__}" for r in roots - ROOTS)


def test_exception_tree_names_are_unique() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for cls in our_exceptions():
        by_name[cls.__name__].append(cls.__module__)
    assert {n: m for n, m in by_name.items() if len(m) > 1} == {}


def test_exception_tree_is_drawn_in_its_root_docstring() -> None:
    """Each tree's docstring names every class of that tree, so the drawing stays true."""
    drawings = {SymphonyError: symphony.errors.__doc__ or "", ActorError: actor_errors.__doc__}
    for cls in our_exceptions():
        assert cls.__name__ in (drawings[root_of(cls)] or ""), cls


def test_exception_tree_message_defaults_to_a_sentence() -> None:
    class Sample(SymphonyError):
        """The thing broke.

        More text for the reader of the code.
        """

    assert str(Sample()) == "the thing broke"
    assert str(Sample("exactly this")) == "exactly this"


def test_exception_tree_sole_exception_unwraps_single_member_groups() -> None:
    error = KeyError("k")
    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [error])])
    assert sole_exception(nested) is error
    assert sole_exception(error) is error
    assert sole_exception(ExceptionGroup("two", [error, ValueError()])) is None
    assert sole_exception(ExceptionGroup("deep", [ExceptionGroup("two", [error, error])])) is None

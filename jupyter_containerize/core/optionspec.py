"""What an option and a verb are (:class:`Option`, :class:`Verb`), how a request's value is
checked against an option's kind, and the error a bad one raises; the table of every verb is
:mod:`~jupyter_containerize.core.options`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ContainerizeError

# the JSON type each kind of option takes in a request, and how it is named in a hint
KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "str": ((str,), "a string"),
    "bool": ((bool,), "true or false"),
    "int": ((int,), "a whole number"),
    "number": ((int, float), "a number"),
    "object": ((dict,), "an object"),
    "list": ((list,), "a list of strings"),
}


class OptionError(ContainerizeError):
    """An option that is unknown, of the wrong type, or missing: a 400 on the server."""


@dataclass(frozen=True)
class Option:
    """One option of a verb: its name as Python spells it, and how each front end reads it."""

    name: str
    kind: str = "str"
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    trait: str | None = None  # the ContainerizeConfig trait that gives the default
    positional: bool = False  # CLI: an argument, not a --flag
    optional_positional: bool = False  # CLI: nargs="?"
    short: str | None = None  # CLI: e.g. "-p"
    long: str | None = None  # CLI: the flag's word when it is not the name (run's --parameter)
    metavar: str | tuple[str, ...] | None = None
    rest: bool = False  # accepted in a server job request
    cli: bool = True  # offered on the command line (and in the magic)
    required: bool = False  # a request without it is refused

    @property
    def flag(self) -> str:
        return "--" + (self.long or self.name).replace("_", "-")

    def default_for(self, config: Any) -> Any:
        """The default, read from the configuration when a trait backs the option."""
        if self.trait and config is not None:
            value = getattr(config, self.trait)
            if value not in ("", None):
                return value
        return self.default

    def check(self, verb: str, value: Any) -> Any:
        """A request's value for this option, checked; raises :class:`OptionError`."""
        types, said = KINDS[self.kind]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise OptionError(f"option {self.name!r} has the wrong type",
                              f"{self.name!r} must be {said}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise OptionError(f"option {self.name!r} has the wrong type",
                              f"{self.name!r} must be {said}")
        if self.choices and value not in self.choices:
            raise OptionError(f"{verb} option {self.name!r} cannot be {value!r}",
                              f"use one of: {', '.join(self.choices)}")
        return value

    def to_json(self, config: Any = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "default": self.default_for(config),
            "choices": list(self.choices),
            "help": self.help,
            "trait": self.trait,
            "required": self.required,
        }


@dataclass(frozen=True)
class Verb:
    """A verb: its help line, its options, and the admin switch that turns it off on a server."""

    name: str
    help: str
    options: tuple[Option, ...] = ()
    switch: str | None = None  # a ContainerizeConfig Bool, e.g. "allow_push"
    notebook: bool = False  # acts on a notebook (the server resolves its path)

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(name)

    def names(self) -> list[str]:
        return [o.name for o in self.options]

    def rest_options(self) -> tuple[Option, ...]:
        return tuple(o for o in self.options if o.rest)

    def defaults(self, config: Any = None) -> dict[str, Any]:
        return {o.name: o.default_for(config) for o in self.options}

    def to_json(self, config: Any = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "help": self.help,
            "switch": self.switch,
            "notebook": self.notebook,
            "options": [o.to_json(config) for o in self.rest_options()],
        }

"""The state of one validation run, and what rules hand back to the walker.

A rule yields `Issue`s and, where it needs the walker, instructions the walker executes:
`Descend` (walk this value with this element definition, e.g. an item with the slice it
matched) and `Conforms` (validate this resource against this profile in a separate run and put
the verdict on the instruction before the rule resumes, e.g. a `profile` discriminator). Rules
never call the walker.
"""
from __future__ import annotations

from ..outcomes import Issue


class Options:
    """Settings of a validation run, named as the reference (Java) validator names them.

    validate_contains: "CHECK_VALID" (contained resources are validated, and each must be
    referenced from the container, dom-3) or "IGNORE" (contained resources are neither
    validated nor checked for being referenced).
    validate_reference: "IGNORE" (a literal reference is checked for its form and, when it
    resolves inside the resource or bundle, its target type) or "CHECK_EXISTS" /
    "CHECK_EXISTS_AND_TYPE" (a relative reference Type/id must also resolve: to a contained
    resource, a bundle entry or a resource of the enclosing Parameters; with no server to ask,
    one that does not is an error)."""

    __slots__ = ("validate_contains", "validate_reference")
    CONTAINS = ("CHECK_VALID", "IGNORE")
    REFERENCE = ("IGNORE", "CHECK_EXISTS", "CHECK_EXISTS_AND_TYPE")

    def __init__(self, validate_contains: str = "CHECK_VALID",
                 validate_reference: str = "IGNORE"):
        if validate_contains not in self.CONTAINS:
            raise ValueError(f"validate_contains must be one of {', '.join(self.CONTAINS)}")
        if validate_reference not in self.REFERENCE:
            raise ValueError(f"validate_reference must be one of {', '.join(self.REFERENCE)}")
        self.validate_contains = validate_contains
        self.validate_reference = validate_reference


DEFAULT_OPTIONS = Options()


class Run:
    """One validation: the registry generation it reads, the compiled definitions of that
    generation, whether the guide's profiles are required, and what the walk has found.

    `root` is the resource '#id' references resolve in (a contained resource's container),
    `bundle` the innermost Bundle, `resources` the (location, type) of the resources being
    walked, innermost last; `unchecked` the external code systems met (one information issue)."""

    __slots__ = ("reg", "defs", "strict", "issues", "_root", "_bundle", "unchecked",
                 "_resources", "validating", "depth", "unknown_extensions", "options", "_top",
                 "context_read", "kept", "probes")

    def __init__(self, reg, defs, strict: bool):
        self.reg = reg
        self.defs = defs
        self.strict = strict
        self.issues: list[Issue] = []
        self._root = None
        self._bundle = None
        self.unchecked: set[str] = set()
        self._resources: list[tuple[str, str]] = []
        self.validating: set[int] = set()  # id() of the resources on the walk's stack
        self.depth = 0
        # severity of an extension nobody can resolve ("error" as the reference validator;
        # "warning" where unknown extensions must be accepted, e.g. a server's write gate)
        self.unknown_extensions = "error"
        # the reference validator's run settings (Options): contained resources, references
        self.options = DEFAULT_OPTIONS
        self._top = None  # the resource the validation was asked for (outermost)
        # kept verdicts (walker): whether the walk read the context of a value since the
        # walker last cleared the flag, and the kept-verdict table of this run (None: off)
        self.context_read = False
        self.kept = None
        # the context reads of the kept walks in progress that a value's verdict may be kept
        # beside (Run.probe), None outside any
        self.probes: list | None = None

    # What a value's verdict may depend on besides its own JSON, its definition, the
    # generation and the run's settings: the enclosing resource, the bundle (when there is
    # one), the resources being walked and the outermost resource. Every read of one goes
    # through these properties, which set `context_read`: the walker keeps the verdict of a
    # value only when nothing read them while it was checked (docs/validation.md).
    def note_context(self):
        """A check read the run's context other than through the properties below (e.g.
        resolve() through the FHIRPath context variables)."""
        self.context_read = True

    def probe(self, fn, *args):
        """fn(run, *args): a read of the run's context whose (small, comparable) result is
        all a check takes from it. It does not mark the run: the walker keeps the verdict
        beside the probe and its result, and a kept verdict holds only where the probe gives
        the same result again (e.g. what a reference resolves to in the bundle around it).
        fn must read the context directly (run._bundle, the FHIRPath context variables), be
        a module-level function and have no effect."""
        got = fn(self, *args)
        if self.probes is not None:
            self.probes.append((fn, args, got))
        return got

    @property
    def root(self):
        self.context_read = True
        return self._root

    @root.setter
    def root(self, value):
        self._root = value

    @property
    def bundle(self):
        b = self._bundle
        if b is not None:  # "no bundle" is part of a kept verdict's key
            self.context_read = True
        return b

    @bundle.setter
    def bundle(self, value):
        self._bundle = value

    @property
    def resources(self):
        self.context_read = True
        return self._resources

    @property
    def top(self):
        self.context_read = True
        return self._top

    @top.setter
    def top(self, value):
        self._top = value

    def sub(self, strict: bool | None = None) -> "Run":
        """A separate run in the same generation and bundle (its issues are its own)."""
        sub = Run(self.reg, self.defs, self.strict if strict is None else strict)
        sub.unknown_extensions = self.unknown_extensions
        sub.options, sub._top = self.options, self._top
        sub._bundle, sub._root = self._bundle, self._root
        self.context_read = True  # the sub-run's verdict is about this run's context
        return sub


class Descend:
    """Walk `value` (with its `_name` part `ext`) as a value of `element` of type `type_code`
    at `location`."""

    __slots__ = ("value", "ext", "element", "type_code", "location")

    def __init__(self, value, ext, element, type_code: str | None, location: str):
        self.value, self.ext, self.element = value, ext, element
        self.type_code, self.location = type_code, location


class Conforms:
    """Does `resource` conform to `profile` (no error)? The walker sets `verdict`."""

    __slots__ = ("resource", "profile", "verdict")

    def __init__(self, resource: dict, profile: str):
        self.resource, self.profile = resource, profile
        self.verdict: bool | None = None


def issue(severity: str, code: str, message: str, location: str | None,
          source: str | None = None, diagnostics: str | None = None) -> Issue:
    return Issue(severity, code, message, (location,) if location else (), diagnostics, source)


class Values:
    """The values of one element in its parent object, as the walker found them; what the
    element-scope rules (cardinality, slicing) look at. `items[i]` is the JSON value (None
    when only its `_name` part `exts[i]` is there), at `locations[i]`, of type `types[i]`;
    `names` are the JSON names used (two for a choice given twice), `counts` the values of
    each. Read-only for the rules (the lists may be the instance's own)."""

    __slots__ = ("items", "exts", "locations", "types", "names", "counts")

    def __init__(self, items=(), exts=(), locations=(), types=(), names=(), counts=()):
        self.items, self.exts, self.locations = items, exts, locations
        self.types, self.names, self.counts = types, names, counts


NO_VALUES = Values()  # an element that is absent


class _Stop:
    """Yielded by a rule (the type rule) when a value is not of its type: the walker checks
    it no further (no later rule, no descent), so a malformed value gives one error."""

    __slots__ = ()

    def __repr__(self):
        return "STOP"


STOP = _Stop()

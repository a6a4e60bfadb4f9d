"""The walker: applies compiled element rules to a JSON resource and collects Issues.

The walker owns the location (FHIRPath expression of every value it visits) and the JSON
shape (arrays, primitives and their `_field` extensions, choices, nested resources); the rules
in `rules.py` each look at one aspect of one ElementDefinition (cardinality, fixed, pattern,
min/max, binding, code system, invariants, slicing, references, extensions) and yield Issues.
"""
from __future__ import annotations

from typing import Sequence

from ..outcomes import Issue
from . import rules
from .fhirpath import current_bundle, current_bundle_index, current_registry, current_root
from .model import CompiledSD, Node
from .primitives import PRIMITIVES, check_id

CORE = "http://hl7.org/fhir/StructureDefinition/"


class Ctx:
    """State of one validation run."""

    __slots__ = ("issues", "root", "bundle", "strict", "depth", "unchecked_systems",
                 "validating", "res_stack")

    def __init__(self, strict: bool):
        self.issues: list[Issue] = []
        self.root = None
        self.bundle = None
        self.strict = strict
        self.depth = 0
        self.unchecked_systems: set[str] = set()
        self.validating: set = set()
        self.res_stack: list = []  # (expression, resourceType) of the resources being walked

    def add(self, severity, code, message, expr, source=None, diagnostics=None):
        self.issues.append(Issue(severity, code, message, (expr,) if expr else (),
                                 diagnostics, source))


class Engine:
    @classmethod
    def for_registry(cls, registry) -> "Engine":
        # kept on the registry (a reference cycle the collector frees with it); a
        # WeakKeyDictionary keyed by the registry never freed either, as the engine holds it
        eng = getattr(registry, "_validation_engine", None)
        if eng is None:
            eng = registry._validation_engine = cls(registry)
        return eng

    def __init__(self, registry):
        self.reg = registry
        self._compiled: dict[str, CompiledSD | None] = {}
        self._generation = registry.generation
        self._vs_profiles = None

    # ------------------------------------------------------------------ compiled lookups
    def compiled(self, url: str) -> CompiledSD | None:
        if self._generation != self.reg.generation:
            self._compiled.clear()
            self._vs_profiles = None
            self._generation = self.reg.generation
        got = self._compiled.get(url, False)
        if got is not False:
            return got
        sd = self.reg.sd(url)
        cs = None
        if sd is not None:
            try:
                elements = self.reg.snapshot(url)
            except Exception:
                elements = None
            if elements:
                cs = CompiledSD(sd["url"], sd, elements)
        self._compiled[url] = cs
        return cs

    def type_root(self, code: str) -> Node | None:
        cs = self.compiled(self.reg.type_url(code))
        return cs.root if cs else None

    def type_info(self, node: Node, tcode: str | None):
        """(children by JSON name, type-level constraints, type root) for a value of node."""
        key = tcode
        hit = node._kids_cache.get(key)
        if hit is not None:
            return hit
        kids: dict = {}
        extra: list = []
        troot = None
        if node.content_ref:
            ref = node.content_ref.split("#", 1)[-1]
            target = node.model.by_id.get(ref) if node.model else None
            if target is not None:
                kids, extra, troot = self.type_info(target, tcode)
                if target.has_explicit:
                    kids = target.explicit
                    extra = list(target.constraints)
        else:
            t = None
            for tr in node.types:
                if tcode is None or tr.code == tcode:
                    t = tr
                    break
            if t is not None:
                prof_root = None
                for p in t.profiles:
                    c = self.compiled(p)
                    if c is not None:
                        prof_root = c.root
                        break
                troot = prof_root or self.type_root(t.code)
                if troot is not None:
                    kids = troot.explicit
                    extra = [c for c in troot.constraints]
                    if prof_root is not None:
                        base_root = self.type_root(t.code)
                        if base_root is not None:
                            keys = {c.key for c in extra}
                            extra += [c for c in base_root.constraints if c.key not in keys]
        if node.has_explicit:
            kids = node.explicit
        own = {c.key for c in node.constraints}
        extra = [c for c in extra if c.key not in own]
        out = (kids, extra, troot)
        node._kids_cache[key] = out
        return out

    # ------------------------------------------------------------------ entry points
    def validate(self, resource: dict, profiles: Sequence[str] = (), strict: bool = False,
                 ctx: Ctx | None = None, expr: str | None = None) -> list[Issue]:
        own_ctx = ctx is None
        if own_ctx:
            ctx = Ctx(strict)
            tokens = (current_registry.set(self.reg),)
        try:
            self.validate_resource(resource, list(profiles), expr, ctx, top=own_ctx)
        finally:
            if own_ctx:
                current_registry.reset(tokens[0])
        if own_ctx and ctx.unchecked_systems:
            ctx.add("information", "informational",
                    "Codes from " + ", ".join(sorted(ctx.unchecked_systems)) +
                    " cannot be checked offline (terminology outside FHIR and the guide)",
                    resource.get("resourceType") if isinstance(resource, dict) else None)
        return ctx.issues

    def profiles_for(self, resource: dict, profiles: list[str], ctx: Ctx, expr: str) -> list:
        rt = resource.get("resourceType")
        urls: list[str] = list(profiles)
        meta = resource.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("profile"), list):
            urls += [p for p in meta["profile"] if isinstance(p, str)]
        urls += self.reg.global_profiles.get(rt, [])
        if ctx.strict:
            guide = self.reg.guide_profiles_by_type.get(rt) or []
            if guide and not any(u in guide for u in urls):
                if len(guide) == 1:
                    urls.append(guide[0])
                else:
                    self._require_one_of(resource, guide, ctx, expr)
        urls += rules.implicit_profiles(self, resource)
        out, seen = [], set()
        for url in urls:
            if url in seen:
                continue
            seen.add(url)
            cs = self.compiled(url)
            if cs is None:
                sev = "error" if ctx.strict else "warning"
                ctx.add(sev, "not-found" if ctx.strict else "informational",
                        f"Profile reference '{url}' has not been checked because it is unknown",
                        f"{expr}.meta.profile" if url not in profiles else expr, source=url)
                continue
            if cs.type != rt:
                ctx.add("error", "invalid", f"The profile {url} is for {cs.type}, not {rt}",
                        expr, source=url)
                continue
            out.append(cs)
        # a profile derived from another one in the list already carries its rules
        ancestors = set()
        for cs in out:
            base = cs.sd.get("baseDefinition")
            hops = 0
            while base and hops < 20:
                ancestors.add(base)
                b = self.reg.sd(base)
                base = b.get("baseDefinition") if b else None
                hops += 1
        return [cs for cs in out if cs.url not in ancestors]

    def _require_one_of(self, resource: dict, guide: list[str], ctx: Ctx, expr: str):
        """Strict mode with several guide profiles for a type: one of them must fit."""
        for url in guide:
            if self.compiled(url) is None:
                continue
            sub = Ctx(False)
            sub.bundle, sub.root = ctx.bundle, ctx.root
            self.validate_resource(resource, [url], expr, sub)
            if not any(i.is_error for i in sub.issues):
                return
        ctx.add("error", "invalid",
                f"The {resource.get('resourceType')} conforms to none of the guide's profiles "
                f"for this type ({', '.join(guide)})", expr)

    def validate_resource(self, res, profiles: list[str], expr: str | None, ctx: Ctx,
                          top: bool = False, allowed_types: Sequence[str] | None = None,
                          contained: bool = False):
        if not isinstance(res, dict):
            ctx.add("error", "structure", "A resource must be a JSON object", expr)
            return
        rt = res.get("resourceType")
        if not isinstance(rt, str) or not self.reg.is_resource_type(rt):
            ctx.add("error", "structure" if rt is None else "invalid",
                    "Missing resourceType" if rt is None else f"Unknown resource type '{rt}'",
                    expr or (rt if isinstance(rt, str) and rt.isalnum() else None))
            return
        if allowed_types and rt not in allowed_types and "Resource" not in allowed_types \
                and "DomainResource" not in allowed_types:
            ctx.add("error", "structure",
                    f"The type '{rt}' is not allowed here (allowed: {', '.join(allowed_types)})", expr)
        expr = expr or rt
        key = id(res)
        if key in ctx.validating or ctx.depth > 20:
            return
        ctx.validating.add(key)
        ctx.depth += 1
        old_root, old_bundle = ctx.root, ctx.bundle
        if not contained:  # '#id' in a contained resource points into the container
            ctx.root = res
        if rt == "Bundle":
            ctx.bundle = res
        ctx.res_stack.append((expr, rt))
        tok_r = current_root.set(ctx.root)
        tok_b = current_bundle.set(ctx.bundle)
        # references into this bundle are resolved through an index built once, on first use
        tok_i = current_bundle_index.set([res, None]) if rt == "Bundle" else None
        try:
            sds = self.profiles_for(res, profiles, ctx, expr)
            if not sds:
                base = self.compiled(CORE + rt)
                sds = [base] if base else []
            first = True
            for cs in sds:
                self.walk_resource(res, cs, expr, ctx, structural=first)
                first = False
            if isinstance(res.get("id"), str):
                m = check_id(res["id"])
                if m:
                    ctx.add("error", "invalid", m, f"{expr}.id")
            if rt == "Bundle":
                rules.bundle_rules(self, res, expr, ctx)
        finally:
            ctx.res_stack.pop()
            current_root.reset(tok_r)
            current_bundle.reset(tok_b)
            if tok_i is not None:
                current_bundle_index.reset(tok_i)
            ctx.root, ctx.bundle = old_root, old_bundle
            ctx.depth -= 1
            ctx.validating.discard(key)

    def walk_resource(self, res: dict, cs: CompiledSD, expr: str, ctx: Ctx, structural: bool):
        self.walk_complex(res, cs.root, cs.type, expr, ctx, is_resource=True)

    # ------------------------------------------------------------------ the walk
    def walk_complex(self, obj: dict, node: Node, tcode: str | None, expr: str, ctx: Ctx,
                     is_resource: bool = False):
        kids, extra, troot = self.type_info(node, tcode)
        if not is_resource and not obj:
            ctx.add("error", "invalid", "Object must have some content", expr, source="ele-1")
            return
        groups: dict = {}
        for k in obj:
            hit = kids.get(k)
            if hit is None:
                if k[:1] == "_":
                    hit = kids.get(k[1:])
                    if hit is not None:
                        ct = hit[1] or (hit[0].types[0].code if len(hit[0].types) == 1 else None)
                        if ct not in PRIMITIVES:
                            hit = None
                        else:
                            g = groups.setdefault(id(hit[0]), [hit[0], []])
                            if k[1:] not in [n for n, _ in g[1]]:
                                g[1].append((k[1:], hit[1]))
                            continue
                if is_resource and k == "resourceType":
                    continue
                choice = _choice_for(kids, k)
                if choice is not None:
                    # a type the (profiled) choice does not allow: one error, and the
                    # element counts as present
                    ctx.add("error", "structure",
                            f"The type {k[len(choice.name):]} is not allowed for "
                            f"{choice.path} (allowed: {', '.join(choice.type_codes)})",
                            f"{expr}.{k}", source=choice.source())
                    groups.setdefault(id(choice), [choice, []])
                    continue
                ctx.add("error", "structure", f"Unrecognized property '{k}'", f"{expr}.{k}")
                continue
            g = groups.setdefault(id(hit[0]), [hit[0], []])
            if k not in [n for n, _ in g[1]]:
                g[1].append((k, hit[1]))
        # required children that are absent
        for child in _required(kids):
            if id(child) not in groups:
                ctx.add("error", "required",
                        f"{child.path}: minimum required = {child.min}, but only found 0",
                        expr, source=child.source())
        for child, names in groups.values():
            if not names:
                continue
            if child.choice and len(names) > 1:
                ctx.add("error", "structure",
                        f"Only one choice of {child.name}[x] is allowed, found "
                        f"{', '.join(n for n, _ in names)}", expr)
            for name, ct in names:
                self.walk_property(obj, child, name, ct, expr, ctx)
        # slicing of the children
        for child in _sliced(kids):
            rules.check_slicing(self, obj, child, expr, ctx)
        # invariants
        if node.constraints or extra:
            rules.check_constraints(self, obj, node, extra, expr, ctx)
        if tcode in rules.TYPE_RULES:
            rules.TYPE_RULES[tcode](self, obj, node, expr, ctx)

    def walk_property(self, obj: dict, child: Node, name: str, ct: str | None, expr: str,
                      ctx: Ctx):
        val = obj.get(name)
        ext = obj.get("_" + name)
        tcode = ct or (child.types[0].code if len(child.types) == 1 else None)
        if tcode is None and child.content_ref:
            tcode = None
        is_prim = tcode in PRIMITIVES
        items, exts = self.items(val, ext, child, name, expr, ctx, is_prim)
        n = len(items)
        if child.max is not None and n > child.max:
            ctx.add("error", "structure",
                    f"{child.path}: max allowed = {child.max}, but found {n}", expr,
                    source=child.source())
        if 0 < n < child.min:
            ctx.add("error", "structure",
                    f"{child.path}: minimum required = {child.min}, but only found {n}", expr,
                    source=child.source())
        for i in range(n):
            item = items[i]
            iexpr = f"{expr}.{name}[{i}]" if child.is_array else f"{expr}.{name}"
            self.walk_value(item, exts[i] if exts else None, child, tcode, iexpr, ctx)

    def items(self, val, ext, child: Node, name: str, expr: str, ctx: Ctx, is_prim: bool):
        where = f"{expr}.{name}"
        if child.is_array:
            if val is not None and not isinstance(val, list):
                ctx.add("error", "structure",
                        f"The property {name} must be a JSON Array, not "
                        f"{'an Object' if isinstance(val, dict) else 'a Primitive property'}",
                        where)
                val = [val]
            if ext is not None and not isinstance(ext, list):
                ctx.add("error", "structure", f"The property _{name} must be a JSON Array", where)
                ext = [ext]
            if isinstance(val, list) and not val:
                ctx.add("error", "structure", "Array cannot be empty - the property should not "
                        "be present if it has no values", where)
            if isinstance(ext, list) and not ext and val is None:
                ctx.add("error", "structure", "Array cannot be empty", where)
            vals = val or []
            exts = ext or []
            n = max(len(vals), len(exts))
            if exts and len(exts) != len(vals) and vals:
                ctx.add("error", "structure",
                        f"The arrays {name} and _{name} must have the same length", where)
            items = [vals[i] if i < len(vals) else None for i in range(n)]
            exts = [exts[i] if i < len(exts) else None for i in range(n)] if exts else None
            for i in range(n):
                if items[i] is None and (exts is None or exts[i] is None):
                    ctx.add("error", "structure", "Null values are not allowed in arrays",
                            f"{where}[{i}]")
            return items, exts
        if isinstance(val, list):
            ctx.add("error", "structure",
                    f"The property {name} must be {'a JSON primitive' if is_prim else 'an Object'}"
                    ", not an Array", where)
            return val, None
        if val is None and ext is None:
            ctx.add("error", "structure", f"The property {name} cannot be null", where)
            return [], None
        return [val], [ext] if ext is not None else None

    def walk_value(self, item, ext, node: Node, tcode: str | None, expr: str, ctx: Ctx):
        if tcode in PRIMITIVES:
            rules.check_primitive(self, item, ext, node, tcode, expr, ctx)
            return
        if tcode is None:
            if node.content_ref:
                if not isinstance(item, dict):
                    ctx.add("error", "structure", "The property must be an Object", expr)
                    return
                self.walk_complex(item, node, None, expr, ctx)
                rules.element_value_rules(self, item, node, None, expr, ctx)
                return
            return
        if tcode in ("Resource", "DomainResource") or self.reg.is_resource_type(tcode):
            allowed = [t.code for t in node.types]
            profs = [p for t in node.types for p in t.profiles]
            self.validate_resource(item, profs, expr, ctx, allowed_types=allowed,
                                   contained=node.name == "contained")
            return
        if not isinstance(item, dict):
            ctx.add("error", "structure",
                    f"The property must be an Object, not a primitive ({item!r})", expr)
            return
        if tcode == "Extension" and not node.slice_name and not any(t.profiles for t in node.types):
            url = item.get("url")
            ext_cs = self.compiled(url) if isinstance(url, str) else None
            if ext_cs is not None and ext_cs.type == "Extension":
                rules.check_extension_context(self, ext_cs, node, expr, ctx)
                self.walk_complex(item, ext_cs.root, "Extension", expr, ctx)
                return
            if isinstance(url, str) and ":" in url:
                # relative urls name the slices of a complex extension (checked there)
                rules.unknown_extension(self, url, expr, ctx)
        self.walk_complex(item, node, tcode, expr, ctx)
        rules.element_value_rules(self, item, node, tcode, expr, ctx)


def _choice_for(kids: dict, key: str):
    k = key.lstrip("_")
    for child, _t in kids.values():
        if child.choice and k.startswith(child.name) and k[len(child.name):][:1].isupper():
            return child
    return None


def _required(kids: dict) -> list:
    key = id(kids)
    hit = _REQ_CACHE.get(key)
    if hit is not None and hit[0] is kids:
        return hit[1]
    seen, out = set(), []
    for child, _ in kids.values():
        if child.min > 0 and id(child) not in seen:
            seen.add(id(child))
            out.append(child)
    _REQ_CACHE[key] = (kids, out)
    return out


def _sliced(kids: dict) -> list:
    key = id(kids)
    hit = _SLICED_CACHE.get(key)
    if hit is not None and hit[0] is kids:
        return hit[1]
    seen, out = set(), []
    for child, _ in kids.values():
        if id(child) in seen or child.choice:
            continue
        if child.slices or (child.slicing and child.slicing.get("rules") == "closed"):
            seen.add(id(child))
            out.append(child)
    _SLICED_CACHE[key] = (kids, out)
    return out


_REQ_CACHE: dict = {}
_SLICED_CACHE: dict = {}

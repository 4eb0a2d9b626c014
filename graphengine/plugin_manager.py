"""The plugin host: finds plugins, calls their hooks, owns the registries.

Plugins are found in three ways, all going through the same pluggy hooks:

* the built-in plugins shipped in ``graphengine.plugins`` (imported by module name, so
  they are found from a source tree with no installed metadata too);
* packages declaring an entry point in the ``graphengine`` group;
* objects handed to :meth:`PluginManager.add_plugin` at run time.

A plugin that fails to import or to register is recorded with its error and skipped;
the others keep working. "Fails" means any exception but ``KeyboardInterrupt``: a plugin
that calls ``sys.exit()`` while importing (argparse does) is reported, not obeyed. A hook
implementation with no matching hook (a misspelt ``register_op``) is reported, and so is a
plugin that implements no hook at all. A name registered twice is refused, naming both
plugins; so is an entry-point name two distributions declare (or one a built-in plugin
has: the built-in keeps its row), and a name that the namespace users type would hide
(an op called ``names`` behind ``ge.ops.names()``).
There is no module-level registry: each :class:`PluginManager` owns its own, and
:func:`default_manager` builds the one ``ge.ops`` and friends use, once, on first use.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import traceback
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownNameError, UnknownOpError, did_you_mean
from .op import Op
from .version import __version__

ENTRY_POINT_GROUP = "graphengine"
ENV_ONLY = "GRAPHENGINE_PLUGINS"

BUILTIN_PLUGINS = (
    "graphengine.plugins.ops",
    "graphengine.plugins.initializers",
    "graphengine.plugins.optimizers",
    "graphengine.plugins.regularizers",
)

# hook name -> registry kind
HOOK_KINDS = {
    "register_ops": "ops",
    "register_optimizers": "optimizers",
    "register_regularizers": "regularizers",
    "register_initializers": "initializers",
    "register_node_styles": "node_styles",
}


class PluginWarning(UserWarning):
    """A plugin was skipped or partly refused; the message says which and why."""


@dataclass
class PluginInfo:
    """What ``graphengine plugins`` shows about one plugin."""

    name: str
    version: str = ""
    origin: str = ""
    status: str = "ok"  # ok | error | disabled
    errors: list = field(default_factory=list)
    registered: dict = field(default_factory=dict)  # kind -> [names]
    hooks: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "origin": self.origin,
            "status": self.status,
            "errors": list(self.errors),
            "hooks": list(self.hooks),
            "registered": {k: list(v) for k, v in self.registered.items()},
        }


def _graphengine_version() -> str:
    return __version__


def _reraise_interrupt(exc: BaseException) -> None:
    """Let Ctrl-C through; every other exception a plugin raises (``SystemExit`` included) is
    the plugin's failure, reported and survived."""
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    if isinstance(exc, BaseExceptionGroup) and exc.subgroup(KeyboardInterrupt) is not None:
        raise exc


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SystemExit):
        text += (" (the plugin called sys.exit(), exit() or raised SystemExit, for example by parsing the "
                 "program's command line with argparse; a plugin must not end the program)")
    return text


class PluginManager:
    """Loads plugins and keeps what they registered: ``ops``, ``optimizers``,
    ``regularizers``, ``initializers`` and ``node_styles`` (dicts name -> object)."""

    def __init__(self, *, builtins: bool = True, entry_points: bool = True, only=None):
        self._pm = pluggy.PluginManager("graphengine")
        self._pm.add_hookspecs(hookspecs)
        self.registries: dict[str, dict] = {kind: {} for kind in HOOK_KINDS.values()}
        self._owner: dict[tuple, str] = {}  # (kind, name) -> plugin name
        self.plugins: dict[str, PluginInfo] = {}
        if only is None:
            env = os.environ.get(ENV_ONLY)
            only = None if env is None else [p.strip() for p in env.split(",") if p.strip()]
        self._only = None if only is None else set(only)
        if builtins:
            for module_name in BUILTIN_PLUGINS:
                self._load_module(module_name, name=module_name.rsplit(".", 1)[-1],
                                  origin="builtin", version=_graphengine_version(), optional=True)
        if entry_points:
            self._load_entry_points()
            if self._only:
                unknown = sorted(self._only - set(self.plugins))
                if unknown:
                    installed = [n for n, p in self.plugins.items() if p.origin.startswith("entry point")]
                    warnings.warn(
                        f"{ENV_ONLY} names plugin{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} that "
                        f"{'are' if len(unknown) > 1 else 'is'} not installed; installed: {', '.join(installed) or 'none'}."
                        + did_you_mean(unknown[0], installed),
                        PluginWarning, stacklevel=2)

    # -- registries ---------------------------------------------------------------------
    @property
    def ops(self) -> dict:
        return self.registries["ops"]

    @property
    def optimizers(self) -> dict:
        return self.registries["optimizers"]

    @property
    def regularizers(self) -> dict:
        return self.registries["regularizers"]

    @property
    def initializers(self) -> dict:
        return self.registries["initializers"]

    @property
    def node_styles(self) -> dict:
        return self.registries["node_styles"]

    def get_op(self, name: str) -> Op:
        try:
            return self.registries["ops"][name]
        except KeyError:
            raise UnknownOpError(self._unknown_message("op", name, "ops")) from None

    def lookup(self, kind: str, name: str):
        """The object registered under ``name`` in registry ``kind`` (clear error if none)."""
        registry = self.registries[kind]
        try:
            return registry[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(kind.rstrip("s"), name, kind)) from None

    def _unknown_message(self, what: str, name: str, kind: str) -> str:
        registry = self.registries[kind]
        msg = f"no {what} named {name!r} is registered." + did_you_mean(str(name), registry)
        broken = [p.name for p in self.plugins.values() if p.status == "error"]
        if broken:
            msg += f" Plugins that failed to load: {', '.join(broken)} (run `graphengine plugins`)."
        else:
            msg += " Run `graphengine plugins` to see every plugin and what it registered."
        return msg

    # -- loading ------------------------------------------------------------------------
    def _load_entry_points(self):
        try:
            eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        except TypeError:  # Python < 3.10 style API
            eps = metadata.entry_points().get(ENTRY_POINT_GROUP, [])
        found = []
        for ep in eps:
            dist = getattr(ep, "dist", None)
            found.append((ep.name, (dist.metadata["Name"] if dist is not None else "") or "", ep.value, ep))
        # entry points with one name: the one whose distribution name sorts first keeps it (the
        # order importlib.metadata finds them in depends on the file system), the others are refused
        for _, dist_name, _, ep in sorted(found, key=lambda row: row[:3]):
            if ep.value in BUILTIN_PLUGINS:
                continue
            dist = getattr(ep, "dist", None)
            version = getattr(dist, "version", "") if dist is not None else ""
            origin = f"entry point {ep.value}" + (f" ({dist_name})" if dist_name else "")
            if ep.name in self.plugins:
                self._refuse_name_clash(ep.name, dist_name, version, origin)
                continue
            if self._only is not None and ep.name not in self._only:
                self.plugins[ep.name] = PluginInfo(ep.name, version, origin, status="disabled",
                                                   errors=[f"not listed in {ENV_ONLY}"])
                continue
            info = PluginInfo(ep.name, version, origin)
            self.plugins[ep.name] = info
            try:
                obj = ep.load()
            except BaseException as exc:
                _reraise_interrupt(exc)
                self._fail(info, f"import failed: {_describe(exc)}", exc)
                continue
            self._register_and_call(obj, info)

    def _refuse_name_clash(self, name: str, dist_name: str, version: str, origin: str):
        """An entry point whose name is taken: listed under its own row with the reason, not loaded."""
        first = self.plugins[name]
        if first.origin == "builtin":
            reason = (f"{name!r} is the name of the built-in plugin graphengine.plugins.{name}, which "
                      "keeps that name")
        else:
            reason = (f"the plugin from {first.origin} has that name already (of the distributions declaring "
                      f"it, the one whose name sorts first keeps it)")
        key = f"{name} ({dist_name or origin})"
        number = 2
        while key in self.plugins:
            key, number = f"{name} ({dist_name or origin}) #{number}", number + 1
        info = self.plugins[key] = PluginInfo(key, version, origin)
        self._fail(info, f"entry-point name {name!r} is taken: {reason}; this plugin is not loaded. "
                         "Two plugins cannot share one name: rename the entry point (its name, left of '=' "
                         "under [project.entry-points.graphengine] in the distribution's pyproject.toml), or "
                         "uninstall the distribution you do not want.")

    def _load_module(self, module_name, name, origin, version, optional=False):
        try:
            module = importlib.import_module(module_name)
        except BaseException as exc:
            _reraise_interrupt(exc)
            if optional and isinstance(exc, ModuleNotFoundError) and exc.name == module_name:
                return None
            info = self.plugins[name] = PluginInfo(name, version, origin)
            self._fail(info, f"import failed: {_describe(exc)}", exc)
            return None
        info = self.plugins[name] = PluginInfo(name, version, origin)
        self._register_and_call(module, info)
        return info

    def add_plugin(self, plugin, name: str | None = None, version: str = "") -> PluginInfo:
        """Register a plugin object or module now and run its hooks.

        Returns its :class:`PluginInfo`; check ``.status`` and ``.errors``.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self.plugins:
            raise PluginError(f"a plugin named {name!r} is already loaded ({self.plugins[name].origin}); "
                              "pass another name=")
        info = self.plugins[name] = PluginInfo(name, version or getattr(plugin, "__version__", ""), "added at run time")
        try:
            self._register_and_call(plugin, info)
        except BaseException:  # KeyboardInterrupt: leave the manager as it was before the call
            self._forget(plugin, info)
            raise
        return info

    def _forget(self, plugin, info: PluginInfo):
        for kind, names in info.registered.items():
            for name in names:
                self.registries[kind].pop(name, None)
                self._owner.pop((kind, name), None)
        if self._pm.get_name(plugin) == info.name:
            self._pm.unregister(plugin)
        del self.plugins[info.name]

    def _register_and_call(self, plugin, info: PluginInfo):
        try:
            self._pm.register(plugin, name=info.name)
        except BaseException as exc:
            _reraise_interrupt(exc)
            self._fail(info, f"registration failed: {_describe(exc)}", exc)
            return
        impls = {hook: impl for hook in HOOK_KINDS for impl in getattr(self._pm.hook, hook).get_hookimpls()
                 if impl.plugin_name == info.name}
        info.hooks = sorted(impls)
        self._check_hook_names(plugin, info, impls)
        for hook, impl in sorted(impls.items()):
            kind = HOOK_KINDS[hook]
            staged: list = []
            register = _RegisterCallback(staged, info.name, hook)
            try:
                returned = impl.function(**({"register": register} if "register" in impl.argnames else {}))
            except BaseException as exc:
                _reraise_interrupt(exc)
                self._fail(info, f"{hook} raised {_describe(exc)}", exc)
                continue  # nothing of this hook is kept: no half registrations
            finally:
                register.closed = True
            if returned is not None:
                self._fail(info, f"{hook} returned {_short_repr(returned)}, which is ignored: a hook registers "
                                 "each object by calling register(obj) and returns nothing")
            for obj in staged:
                self._add(kind, obj, info)

    def _check_hook_names(self, plugin, info: PluginInfo, impls: dict):
        """Report what pluggy registered that no hook specification matches (as pluggy's
        ``check_pending`` does, for this plugin and every such name), hook-named functions
        missing the ``@ge.hookimpl`` marker, and a plugin with no hook at all."""
        unknown = sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ()
                         if not caller.has_spec()
                         and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()))
        for name in unknown:
            self._fail(info, f"unknown hook {name!r}: graphengine has no hook of that name, so it is never "
                             f"called.{did_you_mean(name, HOOK_KINDS)} The hooks are: {', '.join(HOOK_KINDS)}. "
                             "(Mark a hook of a newer graphengine with @ge.hookimpl(optionalhook=True).)")
        unmarked = [hook for hook in HOOK_KINDS if hook not in impls and callable(getattr(plugin, hook, None))]
        for hook in unmarked:
            self._fail(info, f"{hook} is not decorated with @ge.hookimpl, so it is never called; add the decorator")
        if not impls and not unknown and not unmarked:
            self._fail(info, "implements no graphengine hook, so it registers nothing: a hook is a function "
                             f"decorated with @ge.hookimpl and named like one of {', '.join(HOOK_KINDS)} (check "
                             "that the entry point names the module that defines them)")

    def _add(self, kind: str, obj, info: PluginInfo):
        problem = _check_registration(kind, obj, info.name)
        if problem:
            self._fail(info, problem)
            return
        name = obj.name
        shadowed = shadowing_problem(kind, name)
        if shadowed:
            self._fail(info, shadowed)
            return
        owner = self._owner.get((kind, name))
        if owner is not None:
            self._fail(info, f"{kind[:-1]} {name!r} is already registered by plugin {owner!r}; "
                             f"plugin {info.name!r} cannot register it again (the one from {owner!r} stays). "
                             "Rename one of them.")
            return
        self.registries[kind][name] = obj
        self._owner[(kind, name)] = info.name
        info.registered.setdefault(kind, []).append(name)

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None = None):
        info.status = "error"
        info.errors.append(message)
        detail = ""
        if exc is not None and os.environ.get("GRAPHENGINE_DEBUG"):
            detail = "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        warnings.warn(f"graphengine plugin {info.name!r} ({info.origin}): {message}{detail}",
                      PluginWarning, stacklevel=3)

    def owner_of(self, kind: str, name: str) -> str | None:
        return self._owner.get((kind, name))

    def list(self) -> list[PluginInfo]:
        """Every plugin with its version, origin, status and what it registered."""
        return list(self.plugins.values())


class _RegisterCallback:
    """The ``register`` a hook is handed: collects objects while the hook runs, and refuses
    (rather than silently drops) a call made after the hook returned."""

    def __init__(self, staged: list, plugin: str, hook: str):
        self._staged, self._plugin, self._hook = staged, plugin, hook
        self.closed = False

    def __call__(self, obj) -> None:
        if self.closed:
            raise PluginError(
                f"plugin {self._plugin!r} called the register() of its {self._hook} hook after the hook returned, "
                f"so {_short_repr(obj)} would not be registered; call register(obj) inside the hook, or add "
                "the plugin again at run time with PluginManager.add_plugin")
        self._staged.append(obj)


def _short_repr(obj, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_object(obj) -> str:
    """``obj`` for an error about what a plugin registered: its type and a short repr."""
    def qualified(cls):
        return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"

    if isinstance(obj, type):
        return f"the class {qualified(obj)}"
    kind = qualified(type(obj))
    return f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind} ({_short_repr(obj, 60)})"


def _check_registration(kind: str, obj, plugin: str = "?") -> str:
    """Why ``obj`` cannot be registered in registry ``kind`` by ``plugin``, or "". What kind
    of object it is is checked first (so that a non-Op is called that, not an Op without a
    name), then its ``name``."""
    got = f"plugin {plugin!r}: register() for {kind} got {_describe_object(obj)}"
    if kind == "ops" and not isinstance(obj, Op):
        if isinstance(obj, type) and issubclass(obj, Op):
            return (f"{got}, not an Op instance: register() needs an instance of a ge.Op subclass, "
                    f"register({obj.__qualname__}())")
        return f"{got}, which is not an Op: register() needs an instance of a ge.Op subclass (register(MyOp()))"
    if kind in ("optimizers", "regularizers"):
        from .optimizer import Optimizer
        from .regularizer import Regularizer

        base = Optimizer if kind == "optimizers" else Regularizer
        if not (isinstance(obj, type) and issubclass(obj, base)):
            fix = (f"the class itself, register({type(obj).__qualname__})" if isinstance(obj, base)
                   else f"register(My{base.__name__})")
            return f"{got}, which is not a ge.{base.__name__} subclass: register() needs a subclass of " \
                   f"ge.{base.__name__} ({fix})"
    if kind == "initializers" and (isinstance(obj, type) or not callable(obj)):
        fix = f"register an instance, register({obj.__qualname__}())" if isinstance(obj, type) else "register one"
        return f"{got}, which is not a callable instance (an initializer is called as init(shape, ...)): {fix}"
    if kind == "node_styles" and (isinstance(obj, type) or not callable(getattr(obj, "style", None))):
        return (f"{got}, which is not a node style: register an instance with a style(node) method"
                + (f", register({obj.__qualname__}())" if isinstance(obj, type) else ""))
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        return (f"{got} whose name is {name!r:.60}; every registered {kind[:-1].replace('_', ' ')} needs "
                "a `name` that is a Python identifier (set the class attribute name = \"my_name\")")
    return ""


def classes_defined_in(modules, base: type) -> list:
    """Subclasses of ``base`` with a ``name`` defined in ``modules``, in a stable order
    (module order, then definition order): what a plugin module registers.

    >>> import graphengine as ge, graphengine.plugins.ops.activations as acts
    >>> [c.name for c in ge.classes_defined_in([acts], ge.Op)][:2]
    ['sigmoid', 'tanh']
    """
    found = []
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, base) and obj.__module__ == module.__name__ and obj.name:
                found.append(obj)
    return found


class RegistryView:
    """Base class of the namespaces users type (``ge.ops``, ``ge.init``, ``ge.optimizers``, ...,
    in ``graphengine.namespaces``): they read the registries of a plugin manager (by default,
    the default one); the only state they hold is a cache (``ge.ops`` keeps the function it
    made for each op name as an attribute, which finds the op by name when called).

    A view that makes a registry's names its attributes (``ge.ops.relu``) names that registry
    in ``attribute_registry`` and how users write the view in ``shown_as``; every manager then
    refuses to register a name the view has itself (see :func:`shadowing_problem`).
    """

    attribute_registry: str | None = None
    shown_as: str = ""
    _attribute_views: dict = {}  # registry kind -> view class, filled as each view class is defined

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("attribute_registry")
        if kind:
            RegistryView._attribute_views[kind] = cls

    def __init__(self, manager=None):
        self._manager = manager

    @property
    def manager(self):
        return self._manager if self._manager is not None else default_manager()


_MISSING = object()


def shadowing_problem(kind: str, name: str) -> str:
    """Why ``name`` cannot be registered in registry ``kind`` because the namespace users type
    (``ge.ops``, ``ge.init``) would never reach it, or "" when it can.

    A registered name becomes an attribute of its view through ``__getattr__``, which Python
    asks only for names the view does not have itself: an op called ``names`` would be hidden
    by ``ge.ops.names()``. Registries read by name only (optimizers, regularizers, node
    styles) have no such attribute names.

    >>> import graphengine as ge
    >>> shadowing_problem("ops", "names")[:40]
    "op 'names' would be shadowed by ge.ops.n"
    >>> shadowing_problem("ops", "swish"), shadowing_problem("optimizers", "create")
    ('', '')
    """
    view = RegistryView._attribute_views.get(kind)
    if view is None:
        return ""
    what = kind[:-1]  # op, initializer
    shown = view.shown_as
    if name.startswith("__"):
        return (f"{what} {name!r} cannot be reached as {shown}.{name}: {shown} does not look up names "
                f"starting with '__' (Python's own attributes). Rename the {what}.")
    # the view's own attribute, found the way Python finds it before __getattr__ is asked
    own = inspect.getattr_static(view(manager=None), name, _MISSING)
    if own is _MISSING:
        return ""
    kind_of = "method" if callable(own) or isinstance(own, (staticmethod, classmethod)) else "attribute"
    return (f"{what} {name!r} would be shadowed by {shown}.{name}, the namespace's own {kind_of}: "
            f"{shown}.{name} would never reach the {what}. Rename the {what}.")


@functools.lru_cache(maxsize=None)
def default_manager() -> PluginManager:
    """The plugin manager behind ``ge.ops``, ``ge.optimizers`` and ``ge.init``: built on first use."""
    return PluginManager()

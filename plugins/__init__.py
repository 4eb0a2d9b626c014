"""graphengine's built-in plugins (ops, initializers, optimizers, regularizers).

They are registered through the same hooks as third-party plugins. This package also
offers the plugin listing: ``ge.plugins.list()``.
"""

from __future__ import annotations


def list(manager=None):  # noqa: A001 - the public name is ge.plugins.list()
    """Every loaded plugin (name, version, origin, status, what it registered) as dicts."""
    from graphengine.plugin_manager import default_manager

    manager = manager or default_manager()
    return [info.as_dict() for info in manager.list()]

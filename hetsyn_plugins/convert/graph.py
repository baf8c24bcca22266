"""Find the Linear -> spiking-neuron pairs of a model by its data flow.

``nn.Sequential`` (and the hosts' containers that chain the same way) are read directly: a
child feeds the next one only.
Other modules are traced with :mod:`torch.fx`, the Linear-like modules and the neurons kept as
leaves (snnTorch neurons with an explicit ``mem`` and Python loops over time trace fine); a
pair is a Linear whose every call feeds one neuron only, as that neuron's input, and a neuron
whose every call takes its input from that Linear. A module whose ``forward`` cannot be traced
is reported and its children are searched one by one, except those that its class's code
uses other than by calling them (``self.seq[0](x)``, ``for m in self.seq``, ``f(self.seq)``):
what such code does with their parts is unknown, so nothing in them is converted.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections import defaultdict
from typing import Optional

from torch import fx, nn

from .hosts import plain_linear


class Roles:
    """What the active hosts make of a module: a neuron (its host), a Linear (the nn.Linear)."""

    def __init__(self, hosts: list):
        self.hosts = hosts

    def host_of(self, module: nn.Module):
        """The host whose spiking neuron ``module`` is, or None."""
        return next((h for h in self.hosts if isinstance(module, h.neuron_types)), None)

    def linear_of(self, module: nn.Module) -> nn.Linear | None:
        """The ``nn.Linear`` that ``module`` is (or wraps, per time step), or None."""
        if plain_linear(module):
            return module
        return next(
            (lin for h in self.hosts if (lin := h.wrapped_linear(module)) is not None), None
        )

    def is_chain(self, module: nn.Module) -> bool:
        """An ``nn.Sequential`` whose forward feeds each child into the next (not a subclass
        with its own forward, unless a host vouches for it)."""
        return isinstance(module, nn.Sequential) and (
            type(module).forward is nn.Sequential.forward
            or any(isinstance(module, h.chains) for h in self.hosts)
        )

    def is_leaf(self, module: nn.Module) -> bool:
        return self.host_of(module) is not None or self.linear_of(module) is not None


class _Tracer(fx.Tracer):
    def __init__(self, roles: Roles):
        super().__init__()
        self.roles = roles

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return self.roles.is_leaf(m) or super().is_leaf_module(m, qualname)


class Search:
    """The pairs (``pairs``: (linear path, neuron path)) and why other candidates were left
    (``reasons``: path -> reason) in a model."""

    def __init__(self, model: nn.Module, roles: Roles):
        self.roles = roles
        self.pairs: list[tuple[str, str]] = []
        self.reasons: dict[str, str] = {}
        self._visit(model, "")
        self._drop_aliased(model)

    def _drop_aliased(self, model: nn.Module) -> None:
        """Unpair modules registered under several names: replacing one name leaves the other."""
        names: dict[nn.Module, list[str]] = defaultdict(list)  # modules hash by identity
        for path, module in model.named_modules(remove_duplicate=False):
            names[module].append(path)
        for pair in list(self.pairs):
            for path in pair:
                aliases = names[model.get_submodule(path)]
                if len(aliases) > 1:
                    self.pairs.remove(pair)
                    why = f"{path} is registered under several names ({', '.join(aliases)})"
                    self.reasons.update(dict.fromkeys(pair, why))
                    break

    def _visit(self, module: nn.Module, prefix: str, after: Optional[nn.Module] = None) -> None:
        """``after``: what follows ``module`` in the sequence holding it, if anything."""
        if self.roles.is_leaf(module):
            return
        if self.roles.is_chain(module):
            self._sequential(module, prefix, after)
            return
        try:
            graph = _Tracer(self.roles).trace(module)
        except Exception as exc:  # noqa: BLE001 - any tracing failure is reported, not guessed
            where = prefix[:-1] or type(module).__name__
            reason = (
                f"the forward of {where} cannot be traced by torch.fx "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}), so "
                "the data flow into this module is unknown"
            )
            opened = _opened_children(type(module))
            for name, child in module.named_children():
                if self.roles.is_leaf(child):
                    self.reasons[prefix + name] = reason
                elif opened is None or name in opened:
                    how = (
                        "its source cannot be read"
                        if opened is None
                        else f"it uses {name} other than by calling it ({opened[name]})"
                    )
                    why = (
                        f"{reason}, and {how}: what it does with the parts of {name} is "
                        "unknown, so nothing in it is converted"
                    )
                    for sub, m in child.named_modules(prefix=f"{prefix}{name}"):
                        if self.roles.is_leaf(m):
                            self.reasons[sub] = why
                else:
                    self._visit(child, f"{prefix}{name}.")
            return
        self._graph(graph, module, prefix)

    def _sequential(
        self, seq: nn.Sequential, prefix: str, after: Optional[nn.Module] = None
    ) -> None:
        children = list(seq.named_children())
        for i, (name, child) in enumerate(children):
            nxt = children[i + 1] if i + 1 < len(children) else None
            prev = children[i - 1] if i > 0 else None
            if self.roles.linear_of(child) is not None:
                if nxt is not None and self.roles.host_of(nxt[1]) is not None:
                    self.pairs.append((prefix + name, prefix + nxt[0]))
                elif nxt is None and after is not None and self.roles.host_of(after) is not None:
                    held = ", ".join(type(m).__name__ for _, m in children)
                    self.reasons[prefix + name] = (
                        f"it ends a {type(seq).__name__} that holds more than it ({held}) "
                        f"before the {type(after).__name__}: only a container holding the Linear "
                        "alone converts with the neuron after it"
                    )
                else:
                    self.reasons[prefix + name] = "not followed by a spiking neuron"
            elif self.roles.host_of(child) is not None:
                if prev is None or self.roles.linear_of(prev[1]) is None:
                    feeder = "the input" if prev is None else type(prev[1]).__name__
                    self.reasons[prefix + name] = f"its input comes from {feeder}, not a Linear"
            else:
                self._visit(child, f"{prefix}{name}.", None if nxt is None else nxt[1])

    def _graph(self, graph: fx.Graph, root: nn.Module, prefix: str) -> None:
        calls: dict[str, list[fx.Node]] = defaultdict(list)
        attrs = [n.target for n in graph.nodes if n.op == "get_attr"]
        for node in graph.nodes:
            if node.op == "call_module":
                calls[node.target].append(node)
        leaves = {name: m for name, m in root.named_modules() if name and self.roles.is_leaf(m)}
        paired_neurons: set[str] = set()
        for name, module in leaves.items():
            if self.roles.linear_of(module) is None:
                continue
            target, why = self._feeds(name, calls, root)
            if why is None and any(a.startswith(name + ".") for a in attrs):
                why = "its parameters are also read directly in forward"
            if why is None:
                self.pairs.append((prefix + name, prefix + target))
                paired_neurons.add(target)
            else:
                self.reasons[prefix + name] = why
        for name, module in leaves.items():
            if self.roles.host_of(module) is not None and name not in paired_neurons:
                self.reasons[prefix + name] = self._source(name, calls, root)

    def _feeds(self, name: str, calls, root: nn.Module) -> tuple[str | None, str | None]:
        """The neuron that every call of the Linear ``name`` feeds (and only it), or why not."""
        if not calls[name]:
            return None, "not called in forward"
        targets = set()
        for node in calls[name]:
            users = list(node.users)
            user = users[0] if len(users) == 1 else None
            if (
                user is None
                or user.op != "call_module"
                or self.roles.host_of(root.get_submodule(user.target)) is None
            ):
                used_by = ", ".join(u.name for u in users) or "nothing"
                return (
                    None,
                    f"its output is not fed straight into one spiking neuron (used by: {used_by})",
                )
            if _input_of(user) is not node or list(user.all_input_nodes).count(node) != 1:
                return None, f"its output reaches {user.target} other than as its input"
            targets.add(user.target)
        if len(targets) > 1:
            return None, f"it feeds several neurons ({', '.join(sorted(targets))})"
        (target,) = targets
        if any(_input_of(n) is None or _input_of(n).target != name for n in calls[target]):
            return None, f"{target} also receives input that is not this Linear's output"
        return target, None

    def _source(self, name: str, calls, root: nn.Module) -> str:
        """Why the neuron ``name`` was not paired: where its input comes from."""
        if not calls[name]:
            return "not called in forward"
        for node in calls[name]:
            src = _input_of(node)
            if src is None or src.op != "call_module":
                what = "its input" if src is None else f"{src.op} {src.target}"
                return f"its input comes from {what}, not a Linear"
            if self.roles.linear_of(root.get_submodule(src.target)) is None:
                kind = type(root.get_submodule(src.target)).__name__
                return f"its input comes from {src.target} ({kind}), not a Linear"
        return "its Linear was not converted (see the Linear's row)"


# The names of a neuron's input argument (snnTorch ``input_``, SpikingJelly ``x``/``x_seq``).
_INPUT_NAMES = ("input_", "x", "x_seq", "input")


def _input_of(node: fx.Node) -> fx.Node | None:
    """The node given as a called module's first (input) argument, positional or by name."""
    if node.args:
        arg = node.args[0]
    else:
        arg = next((node.kwargs[k] for k in _INPUT_NAMES if k in node.kwargs), None)
    return arg if isinstance(arg, fx.Node) else None


def _opened_children(cls: type) -> Optional[dict[str, str]]:
    """The attributes ``self.<name>`` that the code of ``cls`` (and of its bases up to
    ``nn.Module``) uses other than by calling them, with the first such use as written; None
    where some of that source cannot be read."""
    opened: dict[str, str] = {}
    for klass in cls.__mro__:
        if klass in (nn.Module, object) or klass.__module__.startswith("torch."):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            return None
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and isinstance(node.ctx, ast.Load)
            ):
                continue
            parent = parents.get(node)
            if isinstance(parent, ast.Call) and parent.func is node:
                continue  # self.<name>(...): called as a whole
            if isinstance(parent, ast.FunctionDef) or _in_init(node, parents):
                continue
            use = ast.unparse(parent) if parent is not None else node.attr
            opened.setdefault(node.attr, use if len(use) <= 60 else use[:57] + "...")
    return opened


def _in_init(node: ast.AST, parents: dict) -> bool:
    """Whether ``node`` lies in an ``__init__`` (where modules are built, not run)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef):
            return node.name == "__init__"
    return False

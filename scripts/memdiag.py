#!/usr/bin/env python3
"""Diagnosis of a server's memory: run `minik` under this wrapper; on SIGUSR2 it writes where memory is.

    MINIK_BENCH_WRAPPER=$PWD/scripts/memdiag.py python scripts/bench_scheduler.py   (dump: /tmp/minik-memdiag.txt)

The bench sends SIGUSR2 after its RSS measurement. The dump has the process's smaps rollup, glibc's main
arena (mallinfo2), pymalloc's arena statistics, and deep sizes (sys.getsizeof over reachable objects,
each object counted once, first owner wins) of the store's state and history, each informer, the
scheduler and the rest. Only for diagnosis: the walk takes seconds and briefly doubles memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import types

OUT = os.environ.get("MINIK_MEMDIAG_OUT", "/tmp/minik-memdiag.txt")
SKIP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
        types.CodeType, types.FrameType)
MIB = 2 ** 20


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]


def deep(root, seen: set) -> int:
    total, stack = 0, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, SKIP):
            continue
        seen.add(id(obj))
        try:
            total += sys.getsizeof(obj)
        except Exception:
            continue
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        else:
            attrs = getattr(obj, "__dict__", None)
            if isinstance(attrs, dict):
                stack.append(attrs)
            for slot in getattr(type(obj), "__slots__", ()) or ():
                with contextlib.suppress(Exception):
                    stack.append(getattr(obj, slot))
    return total


def describe(obj) -> str:
    """A short name for an object that holds memory: a function's or coroutine's name, a task's name."""
    for attr in ("__qualname__", "cr_code", "gi_code", "f_code"):
        value = getattr(obj, attr, None)
        if value is not None:
            return f"{type(obj).__name__} {getattr(value, 'co_qualname', value)}"
    if hasattr(obj, "get_name"):
        return f"{type(obj).__name__} {obj.get_name()}"
    if isinstance(obj, list):
        return f"list(len {len(obj)}) held by {[type(o).__name__ for o in gc.get_referrers(obj)][:3]}"
    return type(obj).__name__


def chain_up(obj, mine: set, out, depth: int = 7) -> None:
    """Referrer chains from `obj` up to `depth` levels, skipping the dump's own bookkeeping."""
    level = [obj]
    frame = sys._getframe()
    for n in range(depth):
        parents = []
        for child in level:
            for ref in gc.get_referrers(child):
                if id(ref) in mine or ref is level or ref is parents or isinstance(ref, types.FrameType) and ref.f_back is frame:
                    continue
                mine.add(id(ref))
                parents.append(ref)
        if not parents:
            return
        out.write(f"      up {n + 1}: {'; '.join(describe(p) for p in parents[:6])}\n")
        level = parents[:6]


def holders(obj, objs) -> list[str]:
    """Who refers to `obj`: a frame's function, the attribute name in an instance dict, or a type name."""
    names = []
    for ref in gc.get_referrers(obj):
        if ref is objs:
            continue
        if isinstance(ref, types.FrameType):
            names.append(f"frame {ref.f_code.co_qualname}")
        elif isinstance(ref, dict):
            keys = [k for k, v in ref.items() if v is obj][:2]
            owners = [type(o).__name__ for o in gc.get_referrers(ref) if getattr(o, "__dict__", None) is ref][:1]
            names.append(f"{owners[0] if owners else 'dict'}[{', '.join(map(str, keys))}]")
        elif type(ref).__name__ == "cell":
            funcs = [describe(f) for f in gc.get_referrers(ref) if f is not objs]
            names.append(f"cell in {', '.join(funcs[:3]) or '?'}")
        elif isinstance(ref, tuple):
            outer = [describe(o) for o in gc.get_referrers(ref) if o is not objs][:2]
            names.append(f"tuple in {', '.join(outer) or '?'}")
        else:
            names.append(type(ref).__name__)
    sample = next(iter(obj), None) if isinstance(obj, (list, set, dict)) and len(obj) else None
    if sample is not None:
        names.append(f"first item {type(sample).__name__} {repr(sample)[:80]}")
    return names[:5]


def dump(*_) -> None:
    with open(OUT, "w", buffering=1) as out:
        out.write(open("/proc/self/smaps_rollup").read())
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = MallInfo2
            m = libc.mallinfo2()
            out.write(f"\nglibc main arena: {m.arena / MIB:.1f} MiB, in use {m.uordblks / MIB:.1f} MiB, "
                      f"free {m.fordblks / MIB:.1f} MiB; mmapped {m.hblkhd / MIB:.1f} MiB\n")
        objs = gc.get_objects()
        seen: set = {id(objs)}
        for obj in objs:
            if type(obj).__name__ == "RevisionedStore":
                out.write(f"store state {deep(obj._items, seen) / MIB:.1f} MiB ({len(obj._items)} keys)\n")
                out.write(f"store history {deep(obj._history, seen) / MIB:.1f} MiB ({len(obj._history)} events)\n")
        for obj in objs:
            if type(obj).__name__ == "SharedInformer":
                idx = obj.indexer
                out.write(f"informer {obj.info.plural}{' (metadata)' if obj.metadata_only else ''}: "
                          f"bytes {deep(idx._raw, seen) / MIB:.1f}, decoded {deep(idx._decoded, seen) / MIB:.1f} "
                          f"({len(idx._decoded)}), indexes "
                          f"{(deep(idx._indices, seen) + deep(idx._index_values, seen)) / MIB:.1f} MiB\n")
        for name in ("Scheduler", "EventRecorder", "SimulatedNodes"):
            size = sum(deep(obj, seen) for obj in objs if type(obj).__name__ == name)
            out.write(f"{name} {size / MIB:.1f} MiB\n")
        rest: dict[str, int] = {}
        largest: list[tuple[int, object]] = []
        for obj in objs:
            if id(obj) not in seen:
                size = deep(obj, seen)
                rest[type(obj).__name__] = rest.get(type(obj).__name__, 0) + size
                if size > MIB:
                    largest.append((size, obj))
        out.write(f"the rest {sum(rest.values()) / MIB:.1f} MiB; largest by type of the first owner:\n")
        for name, size in sorted(rest.items(), key=lambda item: -item[1])[:10]:
            out.write(f"   {name} {size / MIB:.1f} MiB\n")
        out.write("its largest single owners, and who holds them:\n")
        ranked = sorted(largest, key=lambda item: -item[0])[:8]
        mine = {id(largest), id(ranked), id(objs), id(rest)} | {id(pair) for pair in largest}
        for size, obj in ranked:
            out.write(f"   {type(obj).__name__} {size / MIB:.1f} MiB (len {len(obj) if hasattr(obj, '__len__') else '-'})"
                      f" held by: {', '.join(holders(obj, objs))}\n")
            chain_up(obj, mine, out)
        out.write("\npymalloc:\n")
        out.flush()
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["minik", *sys.argv[1:]]
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from minik.cli import main

    main()

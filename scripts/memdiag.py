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
        for obj in objs:
            if id(obj) not in seen:
                rest[type(obj).__name__] = rest.get(type(obj).__name__, 0) + deep(obj, seen)
        out.write(f"the rest {sum(rest.values()) / MIB:.1f} MiB; largest by type of the first owner:\n")
        for name, size in sorted(rest.items(), key=lambda item: -item[1])[:10]:
            out.write(f"   {name} {size / MIB:.1f} MiB\n")
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

"""Examples on both sides of "something else": ``other`` holding examples that look like a taught
action's, which happens when a false event is corrected as "wrong" and its action is taught later
(or the reverse). The scorer then finds that action close to both, and it reads "something else"
or flickers between the two, with no sign of why. So a lesson or a correction that makes such a
pair says so, and how to move the examples where they belong: correcting their events again.

Two examples are *alike* when the cosine similarity of their vectors (what the scorer compares)
is at least :data:`ALIKE_AT`. ``benchmarks/conflicts.py`` chose it in one room (the two NTU clips,
every variant, lessons and corrected events): two examples of one action are 0.67-1.00 alike (0.76
and more when both came from the same stretch of video), of the room's two actions at most 0.71.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np

from video_classifier.data import OTHER, shown
from video_classifier.teach.examples import Example, Library

ALIKE_AT = 0.74  # between two actions of one room (at most 0.71) and one stretch of one action (0.76 and more)


@dataclass(frozen=True)
class Alike:
    """An example of ``other`` and a taught action whose examples it looks like."""

    action: str
    other: Example
    similarity: float


def unit_rows(examples: list[Example]) -> np.ndarray:
    """The examples' vectors as rows of length 1 (the scorer's cosine is then a dot product)."""
    rows = np.asarray([e.vector for e in examples], np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def alike(library: Library, name: str, examples: list[Example]) -> list[Alike]:
    """The pairs across ``other`` and the actions that ``examples``, taught as ``name``, make
    in ``library``: ``other``'s examples alike them when ``name`` is an action, the actions
    alike them when it is ``other``. Most alike first."""
    if not examples:
        return []
    new = unit_rows(examples)
    found = []
    if name == OTHER:
        for action, kept in library.actions.items():
            if action != OTHER and kept:
                similarity = new @ unit_rows(kept).T  # one row per new example
                for example, best in zip(examples, similarity.max(axis=1)):
                    if best >= ALIKE_AT:
                        found.append(Alike(action, example, float(best)))
    elif library.actions.get(OTHER):
        others = library.actions[OTHER]
        for example, best in zip(others, (unit_rows(others) @ new.T).max(axis=1)):
            if best >= ALIKE_AT:
                found.append(Alike(name, example, float(best)))
    return sorted(found, key=lambda a: -a.similarity)


def _cosines(found: list[Alike]) -> str:
    values = [f"{a.similarity:.2f}" for a in found[:5]]
    return ", ".join(values) + (", ..." if len(found) > 5 else "")


def _some(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def moves(found: list[Alike]) -> list[tuple[str, str]]:
    """(event, action) for each example of ``other`` that a correction made: correcting that
    event again as the action moves the example there."""
    return [(a.other.event, a.action) for a in found if a.other.event]


def command(actions_file: str, event: str, action: str, model: str | None = None) -> str:
    """The command line that moves the correction of ``event`` to ``action`` (``model``: the
    ``--model`` it needs, when the actions were taught with another model than the default)."""
    flag = f" --model {shlex.quote(str(model))}" if model else ""
    return f"classify.py{flag} --actions {shlex.quote(str(actions_file))} --correct {event} --as {shlex.quote(action)}"


def advice(found: list[Alike], corrected: str | None = None) -> str:
    """What ``found`` does and how to move the examples, in a few sentences ("" when empty);
    ``corrected``: the event a correction just taught as ``other`` (``found``: the actions it
    looks like), to which the advice then speaks."""
    if not found:
        return ""
    names = " and ".join(repr(a) for a in sorted({a.action for a in found}))
    target = found[0].action  # the most alike
    alike_by = f"cosine {_cosines(found)}; alike from {ALIKE_AT:g}"
    effect = f"{names} may now read {shown(OTHER)!r} or flicker between the two"
    how = "(It was ... in the live view, or --correct ID --as NAME)"
    if corrected is not None:
        return (
            f"it looks like the examples of {names} ({alike_by}): {effect}. If it was {target!r}, correct "
            f"event {corrected} as {target!r} {how}."
        )
    count = len(found)
    text = f"{_some(count, 'example')} of {shown(OTHER)!r} look{'s' if count == 1 else ''} like {names} ({alike_by}): {effect}."
    events = sorted({event for event, _ in moves(found)})
    if events:
        which = f"event {events[0]}" if len(events) == 1 else f"events {', '.join(events)}"
        were, them = ("it was", "it") if count == 1 else ("they were", "them")
        text += f" If {were} {target!r}, move {them} by correcting {which} as {target!r} {how}."
    taught = [a.other.id for a in found if not a.other.event]
    if taught:
        text += (
            f" {'Example' if len(taught) == 1 else 'Examples'} {', '.join(taught)} of {shown(OTHER)!r} came from a lesson: "
            f"if {target!r}, delete {'it' if len(taught) == 1 else 'them'} in the Teach panel."
        )
    return text

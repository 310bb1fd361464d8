"""reStructuredText chunking: adorned titles make the trail, directives and literal blocks stay whole."""

from __future__ import annotations

from domain.chunking import searchable_text
from tests.unit.test_chunking import chunks_of, cites_exact_lines

RST = """.. _tut-morecontrol:

***********************
More Control Flow Tools
***********************

Python knows the usual control flow statements.

.. _tut-if:

``if`` Statements
=================

Perhaps the most well-known statement type is the ``if`` statement::

   >>> x = int(input("Please enter an integer: "))

   >>> if x < 0:
   ...     print('Negative')

Nested
------

Text under the nested section.

``for`` Statements
==================

.. code-block:: python

   for word in words:

       print(word)

.. XXX a comment for the editors

The end.
"""


def test_titles_make_the_heading_trail_with_levels_in_order_of_first_appearance() -> None:
    chunks = chunks_of(RST, "tutorial/controlflow.rst", max_chars=200)
    trails = {c.headings for c in chunks}
    assert ("More Control Flow Tools",) in trails
    assert ("More Control Flow Tools", "``if`` Statements") in trails
    assert ("More Control Flow Tools", "``if`` Statements", "Nested") in trails
    assert ("More Control Flow Tools", "``for`` Statements") in trails  # back up to the '=' level


def test_rst_chunks_cite_exact_lines_and_targets_open_the_section_they_name() -> None:
    chunks = chunks_of(RST, "tutorial/controlflow.rst", max_chars=200)
    assert all(cites_exact_lines(c, RST) for c in chunks)
    first_if = next(c for c in chunks if c.headings[-1] == "``if`` Statements")
    assert first_if.text.startswith(".. _tut-if:\n\n``if`` Statements\n=================")
    assert not any(".. _tut-if:" in c.text for c in chunks if c is not first_if)
    assert all(c.headings[-1:] != (".. _tut-if:",) for c in chunks)


def test_literal_blocks_and_directives_stay_in_one_chunk_across_their_blank_lines() -> None:
    chunks = chunks_of(RST, "tutorial/controlflow.rst", max_chars=200)
    literal = next(c for c in chunks if "Please enter" in c.text)
    assert "print('Negative')" in literal.text and "the ``if`` statement::" in literal.text
    directive = next(c for c in chunks if "for word in words:" in c.text)
    assert ".. code-block:: python" in directive.text and "print(word)" in directive.text


def test_comments_are_not_embedded() -> None:
    chunks = chunks_of(RST, "tutorial/controlflow.rst", max_chars=200)
    last = chunks[-1]
    assert ".. XXX" in last.text and "XXX" not in searchable_text(last)


def test_an_oversized_object_directive_names_itself_in_the_trail_of_its_pieces() -> None:
    body = "\n\n".join(f"   Paragraph {i} of the description of print, long enough to fill a line." for i in range(8))
    head = "Built-in Functions\n==================\n\n.. index:: builtin: print\n\n.. function:: print(*objects)"
    text = f"{head}\n\n{body}\n"
    chunks = chunks_of(text, "library/functions.rst", max_chars=300)
    title, *pieces = chunks
    assert title.headings == ("Built-in Functions",) and len(pieces) > 1
    assert pieces[0].text.startswith(".. index:: builtin: print\n\n.. function:: print(*objects)")
    assert all(c.headings == ("Built-in Functions", "function print") for c in pieces)
    assert all(cites_exact_lines(c, text) and len(c.text) <= 300 for c in chunks)


def test_transitions_tables_and_short_underlines_are_not_titles() -> None:
    text = "Title\n=====\n\nText.\n\n----------\n\n=====  =====\nA      B\n=====  =====\n\nNot a title\n---\n"
    chunks = chunks_of(text, "page.rst")
    assert {c.headings for c in chunks} == {("Title",)}

"""The audit log's redaction finds every secret, whatever characters it holds.

Why: the rows holding a secret are found in one pass, all values as alternatives of one
RE2 pattern (``Redactor.redact``); a value with a character RE2 reads as syntax (a
bracket, a backslash, a space after an escape) must still match itself, or its rows would
reach the archive unredacted.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from airshift.archive.secrets import Redactor

TRICKY = ["pa ss#1", 'a\\b"c', "p(w)[x]*+?{2}", "ünï€", "xxx\n\t|.^$", "%2Fs3cr%2f"]


def _one_pass_per_value(values: set[str], array: pa.Array) -> tuple[list, int]:
    """What redaction did before: every value searched for in every row, longest first."""
    count = 0
    for value in sorted(values, key=len, reverse=True):
        count += pc.sum(pc.match_substring(array, value)).as_py() or 0
        array = pc.replace_substring(array, value, "***")
    return array.to_pylist(), count


def test_every_secret_is_found_whatever_characters_it_holds() -> None:
    r = Redactor()
    r.values.update(TRICKY)
    texts = [f"before {v} after" for v in TRICKY] + ["no secret", None, "", "p(w)[x]"]
    array = pa.array(texts * 3, pa.large_string())
    expected, count = _one_pass_per_value(r.values, array)
    assert r.redact(array).to_pylist() == expected
    assert r.redacted == count == 3 * len(TRICKY)
    assert not any(v in (t or "") for t in expected for v in TRICKY)


def test_a_batch_without_secrets_comes_back_as_it_is() -> None:
    r = Redactor()
    r.values.update(TRICKY)
    array = pa.array(["nothing", None, "p(w)"], pa.large_string())
    assert r.redact(array) is array
    assert r.redacted == 0

"""`invoke submit-spark --args` that cannot be right is refused as a bad flag (one line, exit 2) before any
environment is looked for, so nothing is uploaded or started."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.local.harness import invoke


@pytest.mark.parametrize(("flags", "message"), [
    (["--args", "{output}"], "submit-spark: --args places {output} but no --output was given; give --output, or "
                             "write {{output}} for the literal text {output}"),
    (["--input", "words.txt", "--output", "counts", "--args", "{input}"],
     "submit-spark: --output is given but --args places only {input}; add {output} where the script takes it, or "
     "drop --output"),
    (["--args", "'unclosed"], "error: --args \"'unclosed\": No closing quotation; quote the words as a shell would"),
])
def test_args_that_do_not_fit_the_locations_are_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    result = invoke(tmp_path / "state", "submit-spark", "--script", "examples/spark/stock_wordcount.py", *flags,
                    timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip().splitlines() == [message]
    assert not (tmp_path / "state").exists()  # refused before any environment was looked for

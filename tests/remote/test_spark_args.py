"""The one rule by which a Spark script gets its arguments on every target (remote/spark_args.py)."""

from __future__ import annotations

import pytest

from remote.spark_args import ScriptArgsError, check_args, script_args

JOB = {"job_input": "/jobs/7/input", "job_output": "/jobs/7/output"}


def test_without_input_or_output_the_script_gets_exactly_args():
    args = ["a b", "it's", '"q"', "$HOME", "--x={y}", "{}", "{inputs}", "{ input }"]
    assert script_args(args, input=None, output=None, **JOB) == args
    assert script_args([], input=None, output=None, **JOB) == []


def test_placeholders_go_where_args_place_them():
    assert script_args(["{input}"], input="s3://b/in/words.txt", output=None, **JOB) == ["s3://b/in/words.txt"]
    assert script_args(["--top", "3", "--in={input}", "{output}"], input="/in", output="s3://b/out", **JOB) == [
        "--top", "3", "--in=/in", "s3://b/out"]
    assert script_args(["{output}/x", "{input}{input}"], input="i", output="o", **JOB) == ["o/x", "ii"]


def test_without_a_placeholder_input_and_output_come_first():
    assert script_args(["--top", "3"], input="/in", output="/out", **JOB) == ["/in", "/out", "--top", "3"]
    # one location given: the job folder's own stands in for the other, as before
    assert script_args([], input="/in", output=None, **JOB) == ["/in", "/jobs/7/output"]
    assert script_args(["x"], input=None, output="/out", **JOB) == ["/jobs/7/input", "/out", "x"]


def test_doubled_braces_are_the_literal_text_and_place_nothing():
    assert script_args(["{{input}}", "{{output}}x"], input=None, output=None, **JOB) == ["{input}", "{output}x"]
    assert script_args(["{{input}}"], input="/in", output="/out", **JOB) == ["/in", "/out", "{input}"]
    assert script_args(["{input}", "{{input}}"], input="/in", output=None, **JOB) == ["/in", "{input}"]
    assert script_args(["{{{input}}}"], input=None, output=None, **JOB) == ["{{input}}"]  # a pair less, again


@pytest.mark.parametrize(("args", "input", "output", "message"), [
    (["{output}"], None, None, r"^submit-spark: --args places \{output\} but no --output was given; give --output, "
                               r"or write \{\{output\}\} for the literal text \{output\}$"),
    (["{input}", "{output}"], "/in", None, r"places \{output\} but no --output was given"),
    (["{input}"], None, None, r"places \{input\} but no --input was given"),
    (["{input}"], "/in", "/out", r"^submit-spark: --output is given but --args places only \{input\}; add \{output\} "
                                 r"where the script takes it, or drop --output$"),
    (["{output}"], "/in", "/out", r"--input is given but --args places only \{output\}"),
])
def test_a_placeholder_and_the_locations_given_must_agree(args, input, output, message):
    with pytest.raises(ScriptArgsError, match=message):
        check_args(args, input_given=input is not None, output_given=output is not None)
    with pytest.raises(ScriptArgsError, match=message):
        script_args(args, input=input, output=output, **JOB)

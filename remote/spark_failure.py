"""Why a Spark job failed, read out of its logs (mrjob-style): one parser for every place a driver's log lands.

spark-submit's output on a standalone head, an EMR step's stderr or the driver's YARN container logs, a Livy
batch log: each holds, in some mix of log4j lines and JVM warnings (``WARNING: Using incubator modules``), the
Python traceback of a PySpark driver, a script's own ``Usage:`` line, and the Java exception that ended
spark-submit. The Python traceback says the most (it names the user's line), then a usage line (the script refused
its arguments), then a Java exception, the cause of JVM-side failures (a missing input, no memory). What Spark and
the JVM log at INFO or WARN is never the cause: pyspark 4.x prints several such lines before any script runs.
"""

from __future__ import annotations

import re

TRACEBACK = "Traceback (most recent call last):"
# log4j's time stamp opens a log line: 25/01/01 12:00:00 (Spark's default) or 2025-01-01 12:00:00,000
_LOG_LINE = re.compile(r"^\d{2,4}[-/]\d\d[-/]\d\d\b")
# A Java exception: `Exception in thread "main" a.b.CException: ...`, `Caused by: a.b.Error`, or one in a log line.
_JAVA_EXCEPTION = re.compile(r"(?<![\w.$])((?:[A-Za-z_$][\w$]*\.)+[\w$]*(?:Exception|Error)\b(?::.*)?)$")
# A script refusing its arguments: `Usage: wordcount <file>`, or argparse's `usage: job.py [-h] file`.
_USAGE = re.compile(r"^[Uu]sage: ")
_ARGPARSE_ERROR = re.compile(r"^\S+: error: ")
# What the JVM and Spark print on their own, around any job: log4j lines below ERROR, JVM and SLF4J notices.
_QUIET_LOG_LINE = re.compile(r"^\d{2,4}[-/]\d\d[-/]\d\d(?:[ T][\d:,.]+)? (?:TRACE|DEBUG|INFO|WARN)\b")
_NOISE = re.compile(r"^(?:WARNING: |Picked up _?JAVA_\w*OPTIONS|Using Spark's default log4j profile|SLF4J: |log4j:|"
                    r"\s+at |\t)")
_SPARK_FRAME = re.compile(r"/pyspark\.zip/|/site-packages/pyspark/|/py4j")  # frames of PySpark itself
_MESSAGE_LINES = 5  # an exception's message lines kept after its first (py4j puts the Java error there)


def failure_cause(*logs: str) -> str | None:
    """The cause of a failed job from its logs, most telling first (e.g. the driver's log, then the step's):
    the last Python traceback of the first log that has one, else the last usage line of the first log that has
    one, else the Java exception that ended the first log that has one, else None (the caller shows
    :func:`quiet_tail` or says where to look)."""
    for find in (_python_traceback, _usage, _java_exception):
        for log in logs:
            found = find(log)
            if found:
                return found
    return None


def quiet_tail(*logs: str, lines: int = 5) -> str:
    """The last ``lines`` lines of the first log that has any once the JVM's and Spark's own chatter is left out:
    what a script printed last before it failed without an error this module recognises."""
    for log in logs:
        kept = [line for line in log.splitlines() if line.strip() and not _QUIET_LOG_LINE.match(line)
                and not _NOISE.match(line)]
        if kept:
            return "\n".join(kept[-lines:])
    return ""


def _python_traceback(text: str) -> str | None:
    """The last traceback in ``text`` (the innermost of a chain; a task's error reaches the driver's), from its
    header to the exception and its message lines, without PySpark's own frames when the user's are there."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if TRACEBACK in line]
    if not starts:
        return None
    body = lines[starts[-1] + 1:]
    frames: list[list[str]] = []
    exception: list[str] = []
    for index, line in enumerate(body):
        if line.startswith("  File "):
            frames.append([line])
        elif line.startswith((" ", "\t")) and frames:
            frames[-1].append(line)
        else:  # the exception: its first line and any message lines up to a log line or a Java frame
            exception = [line, *_message(body[index + 1:index + 1 + _MESSAGE_LINES])]
            break
    own = [frame for frame in frames if not _SPARK_FRAME.search(frame[0])] or frames
    return "\n".join([TRACEBACK, *(line for frame in own for line in frame), *exception])


def _message(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for line in lines:
        if (not line.strip() or _LOG_LINE.match(line) or line.lstrip().startswith(("at ", "SQLSTATE: "))
                or TRACEBACK in line):  # SQLSTATE: Spark 4's error class, appended to a Python worker's error
            break
        kept.append(line)
    return kept


def _usage(text: str) -> str | None:
    """The last usage line, with argparse's indented continuation lines and its ``prog: error: ...`` line."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if _USAGE.match(line)]
    if not starts:
        return None
    block = [lines[starts[-1]]]
    for line in lines[starts[-1] + 1:]:
        if line.startswith(" ") and line.strip():
            block.append(line)
            continue
        if _ARGPARSE_ERROR.match(line):
            block.append(line)
        break
    return "\n".join(block)


def _java_exception(text: str) -> str | None:
    """The Java exception that ended the program: the last ``Exception in thread`` line with the last
    ``Caused by:`` after it (the root cause), else the last exception line of the log (one logged at INFO or WARN
    is not: Spark logs those it recovers from)."""
    found = [(line.strip(), match[1]) for line in text.splitlines()
             if not line.lstrip().startswith("at ") and not _QUIET_LOG_LINE.match(line)
             and (match := _JAVA_EXCEPTION.search(line.strip()))]
    if not found:
        return None
    threads = [index for index, (line, _) in enumerate(found) if line.startswith("Exception in thread")]
    if not threads:
        return found[-1][1]
    head = found[threads[-1]][0]
    causes = [exception for line, exception in found[threads[-1] + 1:] if line.startswith("Caused by:")]
    return f"{head}\n  caused by {causes[-1]}" if causes else head

"""Why a Spark job failed, read out of its logs (mrjob-style): one parser for every place a driver's log lands.

spark-submit's output on a standalone head, an EMR step's stderr or the driver's YARN container log, a Livy
batch log: each holds, in some mix of log4j lines, the Python traceback of a PySpark driver and the Java
exception that ended spark-submit. The Python traceback says the most (it names the user's line), so it wins over
a Java exception in any of the logs; the Java one is the cause for JVM-side failures (a missing input, no memory).
"""

from __future__ import annotations

import re

TRACEBACK = "Traceback (most recent call last):"
# log4j's time stamp opens a log line: 25/01/01 12:00:00 (Spark's default) or 2025-01-01 12:00:00,000
_LOG_LINE = re.compile(r"^\d{2,4}[-/]\d\d[-/]\d\d\b")
# A Java exception: `Exception in thread "main" a.b.CException: ...`, `Caused by: a.b.Error`, or one in a log line.
_JAVA_EXCEPTION = re.compile(r"(?<![\w.$])((?:[A-Za-z_$][\w$]*\.)+[\w$]*(?:Exception|Error)\b(?::.*)?)$")
_SPARK_FRAME = re.compile(r"/pyspark\.zip/|/site-packages/pyspark/|/py4j")  # frames of PySpark itself
_MESSAGE_LINES = 5  # an exception's message lines kept after its first (py4j puts the Java error there)


def failure_cause(*logs: str) -> str | None:
    """The cause of a failed job from its logs, most telling first (e.g. the driver's log, then the step's):
    the last Python traceback of the first log that has one, else the Java exception that ended the first log
    that has one, else None (the caller shows the log's tail or says where to look)."""
    for log in logs:
        block = _python_traceback(log)
        if block:
            return block
    for log in logs:
        exception = _java_exception(log)
        if exception:
            return exception
    return None


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
        if not line.strip() or _LOG_LINE.match(line) or line.lstrip().startswith("at ") or TRACEBACK in line:
            break
        kept.append(line)
    return kept


def _java_exception(text: str) -> str | None:
    """The Java exception that ended the program: the last ``Exception in thread`` line with the last
    ``Caused by:`` after it (the root cause), else the last exception line of the log."""
    found = [(line.strip(), match[1]) for line in text.splitlines()
             if not line.lstrip().startswith("at ") and (match := _JAVA_EXCEPTION.search(line.strip()))]
    if not found:
        return None
    threads = [index for index, (line, _) in enumerate(found) if line.startswith("Exception in thread")]
    if not threads:
        return found[-1][1]
    head = found[threads[-1]][0]
    causes = [exception for line, exception in found[threads[-1] + 1:] if line.startswith("Caused by:")]
    return f"{head}\n  caused by {causes[-1]}" if causes else head

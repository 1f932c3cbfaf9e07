"""Progress wherever the output goes: in a log, one UTC-stamped line per change of state (a clock in the text does
not make a line per poll); on a terminal, a live line; in both, the text as it is, markup and emoji codes
included."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from remote.progress import progress

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_in_a_log_each_change_of_state_is_one_stamped_line() -> None:
    log = io.StringIO()
    before = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
    with progress(Console(file=log, width=80), "job 7: [/x] asking Slurm") as update:
        for second in range(300):  # a poll a second for five minutes, the state changing twice
            state = "PENDING" if second < 100 else "RUNNING on [bold]compute-0[/bold] :smile:"
            update(f"job 7: {state}, {second} s", key=state)
    lines = log.getvalue().splitlines()
    assert [re.sub(f"^{STAMP} ", "", line) for line in lines] == [
        "job 7: [/x] asking Slurm", "job 7: PENDING, 0 s", "job 7: RUNNING on [bold]compute-0[/bold] :smile:, 100 s"]
    assert all(re.match(STAMP, line) for line in lines)
    assert lines[0][:16] >= before  # the stamp is the time now, in UTC


def test_without_a_key_the_same_text_is_not_repeated() -> None:
    log = io.StringIO()
    with progress(Console(file=log), "booting") as update:
        for text in ["booting: head munge", "booting: head munge", "booting: head slurm", "booting: head slurm"]:
            update(text)
    assert [line.split(" ", 1)[1] for line in log.getvalue().splitlines()] == [
        "booting", "booting: head munge", "booting: head slurm"]


def test_on_a_terminal_a_live_line_shows_markup_as_it_is() -> None:
    shown = io.StringIO()
    terminal = Console(file=shown, force_terminal=True, color_system=None, width=100)
    with progress(terminal, "job 8: [/x] asking") as update:
        update("job 8: RUNNING [bold]x[/bold] :smile:")
    text = shown.getvalue()
    assert "job 8: RUNNING [bold]x[/bold] :smile:\n" in text and "\x1b[2K" in text  # drawn, then cleared
    assert not re.search(STAMP, text)

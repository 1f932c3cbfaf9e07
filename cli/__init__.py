"""What the task surface (``invoke_tasks.py``) shares between its tasks: how flags are named, how errors end a
task, how text reaches the terminal. It sits beside ``invoke_tasks`` and imports from ``targets`` / ``remote`` /
``spec`` only, so the layers below never learn of the CLI."""

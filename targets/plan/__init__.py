"""``invoke plan``: evaluate the Pulumi program of a spec offline (``mock_run``), judge it with the security
rules, and price it (``prices``, ``cost``); ``report`` puts the three together and prints them."""

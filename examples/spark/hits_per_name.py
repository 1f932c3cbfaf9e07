"""Hits per page title over a Wikipedia page-view log: ``title<TAB>hits`` lines, most viewed first.

The log has lines ``project page_title count bytes`` (the format of Wikimedia's hourly pageviews dumps).
Only project ``en`` (English Wikipedia, desktop) is counted unless a third argument names another project,
or ``*`` for all of them; malformed lines are skipped. Ties are broken by title, so the output is stable.

Usage: spark-submit hits_per_name.py INPUT OUTPUT [PROJECT]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from operator import add

from pyspark.sql import SparkSession


def views(line: str, project: str) -> Iterator[tuple[str, int]]:
    """``(title, count)`` of one log line of ``project`` ("*": any project); nothing for other lines."""
    fields = line.split(" ")
    if len(fields) == 4 and fields[2].isdigit() and project in ("*", fields[0]):
        yield fields[1], int(fields[2])


def main(source: str, target: str, project: str = "en") -> None:
    spark = SparkSession.builder.appName("hits_per_name").getOrCreate()
    hits = (spark.sparkContext.textFile(source)
            .flatMap(lambda line: views(line, project))
            .reduceByKey(add)
            .sortBy(lambda pair: (-pair[1], pair[0])))
    hits.map(lambda pair: f"{pair[0]}\t{pair[1]}").saveAsTextFile(target)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])

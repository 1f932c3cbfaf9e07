"""Word count with the interface of Apache Spark's stock example (examples/src/main/python/wordcount.py), to show
that such a script runs under `invoke submit-spark` unchanged: exactly one argument, the text to count; one
``word: count`` line per whitespace-separated word, printed by the driver; otherwise ``Usage: wordcount <file>``
on stderr and exit status -1 (255).

    cd examples/spark
    invoke submit-spark --script stock_wordcount.py --input data/words.txt --args '{input}'
    invoke submit-spark --script stock_wordcount.py --args /shared/words.txt   # a path every node reads
"""

from __future__ import annotations

import sys
from operator import add

from pyspark.sql import SparkSession


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("Usage: wordcount <file>", file=sys.stderr)
        return -1
    spark = SparkSession.builder.appName("stock-pattern wordcount").getOrCreate()
    pairs = spark.sparkContext.textFile(argv[1]).flatMap(str.split).map(lambda word: (word, 1))
    for word, count in sorted(pairs.reduceByKey(add).collect()):  # sorted: the same run prints the same lines
        print(f"{word}: {count}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

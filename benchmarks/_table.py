"""Printing the benchmarks' tables: aligned columns for a terminal, or markdown for docs/benchmarks.md."""


def print_table(header: list, rows: list[list], markdown: bool) -> None:
    """`rows` under `header`, as markdown or as space-aligned columns."""
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(str(c) for c in row) + " |")
        return
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))

"""The one results table: each figure next to its baselines, the ratio and the goal."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ("benchmark", "project", "baseline(s)", "ratio", "goal", "reached?")


@dataclass
class Row:
    benchmark: str
    project: str
    baselines: str
    ratio: str = "-"
    goal: str = "-"
    reached: bool | None = None  # None: no goal, or not measurable in this run

    def cells(self) -> tuple[str, ...]:
        verdict = {True: "yes", False: "NO", None: "-"}[self.reached]
        return (self.benchmark, self.project, self.baselines, self.ratio, self.goal, verdict)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  -> {row.benchmark}: {row.project} | {row.baselines} | {row.ratio}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def table(self) -> str:
        lines = [HEADER, *(row.cells() for row in self.rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

        def render(cells: tuple[str, ...]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([render(HEADER), rule, *(render(cells) for cells in lines[1:])])

    def show(self) -> None:
        """The table and its notes, on standard output."""
        print()
        print(self.table())
        print()
        for note in self.notes:
            print(f"- {note}")

    def write(self, path: Path, title: str, machine: str, command: str, seconds: float) -> None:
        """A results file of its own: `# title`, then `markdown`."""
        path.write_text(f"# {title}\n\n{self.markdown(machine, command, seconds)}")
        print(f"written to {path}")

    def markdown(self, machine: str, command: str, seconds: float) -> str:
        notes = "\n".join(f"- {note}" for note in self.notes)
        return (
            f"Machine: {machine}\n\n"
            f"Command: `{command}` ({seconds:.0f} s)\n\n"
            f"{self.table()}\n\n{notes}\n"
        )


def machine_description() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}){memory}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process, every core) since boot,
    from /proc/stat: all but idle and iowait. Deltas over a phase, divided by its wall time,
    give how many cores were busy."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(value) for value in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def rate(value: float) -> str:
    return f"{value:,.0f} req/s" if value >= 100 else f"{value:,.1f} req/s"


def ratio(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "timeout"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"

"""Reads a ledger workbook in openpyxl's read-only mode: rows stream from the file, never a whole workbook."""

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from imports.layout import COLUMNS, HEADER_KEYS, HEADER_SCAN_ROWS, REQUIRED_KEYS, LedgerColumn, normalise_header

SHEET_NAME = "重大隐患督改台账"
# A district's whole ledger is a few thousand rows; beyond this, split the file.
MAX_ROWS = 50_000


@dataclass(frozen=True)
class Problem:
    """A reason in Chinese, at a row (as Excel numbers it; 0 for the file as a whole) and a column header."""

    row: int
    column: str
    message: str


class LedgerUnreadable(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class RawRow:
    number: int
    cells: dict[str, Any]


@dataclass(frozen=True)
class Header:
    row: int
    # column key -> the header as the file writes it (errors name the column as the reader sees it)
    names: dict[str, str]

    def name(self, column: LedgerColumn) -> str:
        return self.names.get(column.key, column.header)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _find_header(rows: Iterator[tuple[Any, ...]]) -> tuple[int, dict[int, LedgerColumn], dict[str, str]]:
    for number, values in enumerate(rows, 1):
        if number > HEADER_SCAN_ROWS:
            break
        found: dict[int, LedgerColumn] = {}
        names: dict[str, str] = {}
        duplicates: list[str] = []
        for index, value in enumerate(values):
            if not isinstance(value, str):
                continue
            column = HEADER_KEYS.get(normalise_header(value))
            if column is None:
                continue
            if column.key in names:
                duplicates.append(value.strip())
                continue
            found[index] = column
            names[column.key] = value.strip()
        if "title" in names and len(names) >= 3:
            problems = [Problem(number, name, f"列「{name}」重复出现") for name in duplicates]
            if "funds_wan" in names and "funds_yuan" in names:
                problems.append(Problem(number, names["funds_yuan"], "整改资金只能以万元或元其中一种单位填写"))
            problems += [
                Problem(number, column.header, f"缺少必需的列「{column.header}」")
                for column in COLUMNS
                if column.key in REQUIRED_KEYS and column.key not in names
            ]
            if problems:
                raise LedgerUnreadable(problems)
            return number, found, names
    message = f"前 {HEADER_SCAN_ROWS} 行中没有找到表头（应含「隐患名称」「企业名称」等列名），请使用导入模板"
    raise LedgerUnreadable([Problem(0, "", message)])


def read_ledger(path: Path) -> tuple[Header, list[RawRow]]:
    """The header and every non-empty row under it. Raises LedgerUnreadable for a file that is not a ledger."""
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise LedgerUnreadable([Problem(0, "", "无法读取文件：不是有效的 Excel（.xlsx）文件")]) from err
    try:
        sheet = workbook[SHEET_NAME] if SHEET_NAME in workbook.sheetnames else workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_row, columns, names = _find_header(rows)
        parsed: list[RawRow] = []
        # iter_rows goes on from the row after the header: the same generator.
        for number, values in enumerate(rows, header_row + 1):
            cells = {column.key: values[index] for index, column in columns.items() if index < len(values)}
            if all(_blank(v) for v in cells.values()):
                continue
            if len(parsed) >= MAX_ROWS:
                raise LedgerUnreadable([Problem(0, "", f"文件超过 {MAX_ROWS} 行，请分批导入")])
            parsed.append(RawRow(number, cells))
        return Header(header_row, names), parsed
    finally:
        workbook.close()

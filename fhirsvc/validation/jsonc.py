"""JSON with comments, as the reference validator reads it: `//` and `/* */` comments outside
strings are found (line and column) and blanked out, so the rest can be validated. Comments
are not JSON: the validator reports each as an error, unless the caller allows them (the
reference's allow-comments setting). Written by hand: a comment scanner needs only the string
rules of JSON, and orjson has no comment mode."""
from __future__ import annotations


def strip_comments(text: str) -> tuple[str, list[tuple[int, int]]]:
    """(text with every comment replaced by spaces, (line, column) of each comment)."""
    out = list(text)
    found: list[tuple[int, int]] = []
    i, n = 0, len(text)
    line, line_start = 1, 0
    in_string = False
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, line_start = line + 1, i + 1
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "/" and i + 1 < n and text[i + 1] in "/*":
            found.append((line, i - line_start + 1))
            if text[i + 1] == "/":
                end = text.find("\n", i)
                end = n if end < 0 else end
            else:
                end = text.find("*/", i + 2)
                end = n if end < 0 else end + 2
            for k in range(i, end):
                if out[k] != "\n":
                    out[k] = " "
                else:
                    line, line_start = line + 1, k + 1
            i = end
            continue
        i += 1
    return "".join(out), found


_CLOSERS = {"]": "Array", "}": "Object"}
_VALUE_END = set('"]}') | set("0123456789eltrufasn")  # the last char of a value or literal


def repair_commas(text: str) -> tuple[str, list[tuple[str, int, int]]]:
    """Commas as the reference validator's lenient JSON reader repairs them: an extra comma
    before `]` or `}` is dropped, a missing comma between two members or items is inserted.
    (repaired text, (message, line, column) of each repair); the text is unchanged when
    there is nothing of the kind."""
    out: list[str] = []
    fixes: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    line, line_start = 1, 0
    pending = None  # (index in out, line, col) of a comma not yet followed by a value
    last = ""       # the last significant character written (outside strings)
    stack: list[str] = []  # the open containers
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, line_start = line + 1, i + 1
        if ch in " \t\r\n":
            out.append(ch)
            i += 1
            continue
        col = i - line_start + 1
        if ch in _CLOSERS and pending is not None:
            out[pending[0]] = " "
            fixes.append((f"There is an extra comma at the end of the {_CLOSERS[ch]} in the "
                          "JSON", pending[1], pending[2]))
        elif ch == '"' and last and last in _VALUE_END and stack and stack[-1] == "{":
            # a member's name right after a value: the comma between members is missing (in
            # an array, two values side by side stay a syntax error, as for the reference)
            out.append(",")
            fixes.append(("A Comma is missing in the JSON", line, col))
        if ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
        pending = (len(out), line, col) if ch == "," else None
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
            last = '"'
            continue
        if ch.isalnum() or ch in "+-.":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "+-."):
                j += 1
            out.append(text[i:j])
            last = text[j - 1]
            i = j
            continue
        out.append(ch)
        last = ch
        i += 1
    return ("".join(out), fixes) if fixes else (text, [])

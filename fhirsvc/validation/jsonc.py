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

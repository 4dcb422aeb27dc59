"""tests/unit/python_lines/make_fixture.py — writes what the interpreter running it says about its
own line tables, for test_python_lines.c: for each code object of a sample of code (this file's
functions and a module of the standard library), its first line, its raw line table and the line
CPython gives for every instruction offset. Run it with each CPython version to test:

    python3.X make_fixture.py > cpython-3.X.txt

Lines: "code FORMAT FIRST_LINE TABLE_HEX", then "at BYTE_OFFSET LINE" (LINE 0: no line)."""
import dis
import sys
import types


def sample(values, limit=10):
    total = 0
    for index, value in enumerate(values):
        if index > limit:
            break
        try:
            total += 1 / value
        except ZeroDivisionError:
            total = -1
        finally:
            total += 0
    return [x * 2 for x in values if x] or (lambda y: y + 1)(total)


async def asynchronous(x):
    return await x


def generator(n):
    yield from range(n)


def code_objects(code):
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from code_objects(constant)


def expected_lines(code):
    """(byte offset, line) for every instruction, from the interpreter itself."""
    if hasattr(code, "co_lines"):  # 3.10+: ranges of bytes
        for start, end, line in code.co_lines():
            for offset in range(start, end, 2):
                yield offset, line or 0
    else:  # 3.9: line starts; an instruction's line is the last start at or before it
        starts = dict(dis.findlinestarts(code))
        line = code.co_firstlineno
        for offset in range(0, len(code.co_code), 2):
            line = starts.get(offset, line)
            yield offset, line


def main():
    minor = sys.version_info[1]
    table_format = 1 if minor <= 9 else 2 if minor == 10 else 3
    import json.decoder as library_module
    roots = [compile(open(__file__).read(), __file__, "exec"),
             compile(open(library_module.__file__).read(), library_module.__file__, "exec")]
    for root in roots:
        for code in code_objects(root):
            table = code.co_lnotab if minor <= 9 else code.co_linetable
            print(f"code {table_format} {code.co_firstlineno} {table.hex() or '-'}")
            for offset, line in expected_lines(code):
                print(f"at {offset} {line}")


main()
